import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import { clipToL2, l2Norm } from './l2-clip.ts';

test('l2Norm spans all tensors', () => {
  assert.equal(l2Norm({ a: Float32Array.from([3]), b: Float32Array.from([0, 4]) }), 5);
  assert.equal(l2Norm({}), 0);
});

test('clipToL2 scales down above the bound without mutating the input', () => {
  const t = { a: Float32Array.from([3]), b: Float32Array.from([0, 4]) };
  const r = clipToL2(t, 1);
  assert.equal(r.preClipNorm, 5);
  assert.equal(r.clipped, true);
  assert.ok(Math.abs(l2Norm(r.tensors) - 1) < 1e-6);
  assert.ok(Math.abs(r.tensors.a[0] - 0.6) < 1e-6);
  assert.deepEqual(Array.from(t.b), [0, 4]);
  assert.notEqual(r.tensors.a, t.a);
});

test('clipToL2 leaves small updates unchanged (as copies)', () => {
  const t = { a: Float32Array.from([0.1, -0.2]) };
  const r = clipToL2(t, 10);
  assert.equal(r.clipped, false);
  assert.deepEqual(r.tensors.a, t.a);
  assert.notEqual(r.tensors.a, t.a);
});

test('clipToL2 rejects bad bounds and non-finite updates', () => {
  assert.throws(() => clipToL2({ a: new Float32Array(1) }, 0), FlockError);
  assert.throws(() => clipToL2({ a: Float32Array.from([NaN]) }, 1), (e: unknown) => e instanceof FlockError && e.code === 'non-finite');
});
