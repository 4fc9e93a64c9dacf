import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { KeyAdvertisementSchema, MaskedInputSchema, messageBytes } from './secagg-messages.ts';

test('byte fields accept Uint8Array, Node Buffers and ArrayBuffers (as a browser receives binary frames), and refuse the rest', () => {
  const key = new Uint8Array(32).fill(1);
  assert.ok(KeyAdvertisementSchema.safeParse({ from: 'a', cPublicKey: key, sPublicKey: Buffer.from(key) }).success);
  const parsed = MaskedInputSchema.parse({ from: 'a', masked: new Uint8Array(8).buffer });
  assert.ok(parsed.masked instanceof Uint8Array && parsed.masked.length === 8);
  assert.ok(!KeyAdvertisementSchema.safeParse({ from: 'a', cPublicKey: new Uint8Array(31), sPublicKey: key }).success);
  assert.ok(!KeyAdvertisementSchema.safeParse({ from: 'a', cPublicKey: Array.from(key), sPublicKey: key }).success);
});

test('messageBytes counts byte fields raw (Uint8Array or Buffer alike) and the rest as JSON', () => {
  const json = JSON.stringify({ from: 'abc', masked: 0 }).length;
  assert.equal(messageBytes({ from: 'abc', masked: new Uint8Array(1000) }), 1000 + json);
  assert.equal(messageBytes({ from: 'abc', masked: Buffer.alloc(1000) }), 1000 + json);
});
