import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkUpdateEncodings, chooseUpdateEncoding, parseUpdateEncodings } from './update-encoding.ts';

test('chooseUpdateEncoding: the smallest offered that the participant supports; f32 when the round does not say; none in common → undefined', () => {
  assert.equal(chooseUpdateEncoding(['f32', 'f16', 'int8'], ['f32', 'f16', 'int8']), 'int8');
  assert.equal(chooseUpdateEncoding(['f32', 'f16'], ['f32', 'f16', 'int8']), 'f16');
  assert.equal(chooseUpdateEncoding(['int8', 'f32'], ['f32', 'f16']), 'f32');
  assert.equal(chooseUpdateEncoding(undefined, ['f32', 'f16', 'int8']), 'f32');
  assert.equal(chooseUpdateEncoding(['int8'], ['f32']), undefined);
});

test('parseUpdateEncodings and checkUpdateEncodings refuse with typed errors', () => {
  assert.deepEqual(parseUpdateEncodings('f32, int8'), ['f32', 'int8']);
  for (const bad of ['', 'f64', 'f32,f32']) assert.throws(() => parseUpdateEncodings(bad), { name: 'FlockError', code: 'bad-config' });
  const f16 = { name: 'a', packed: { encoding: 'f16' as const } };
  const plain = { name: 'b' };
  checkUpdateEncodings([f16, plain], ['f32', 'f16']);
  assert.throws(() => checkUpdateEncodings([plain, f16], ['f32', 'int8']), { name: 'FlockError', code: 'malformed', message: /"a" was sent as f16/ });
  assert.throws(() => checkUpdateEncodings([plain], ['int8']), { name: 'FlockError', code: 'malformed' });
});
