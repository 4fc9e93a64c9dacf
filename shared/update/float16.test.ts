import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFloat16, encodeFloat16, fromFloat16Bits, toFloat16Bits } from './float16.ts';

test('float16: every finite half round-trips, and known values decode exactly', () => {
  for (let h = 0; h < 65536; h++) {
    const v = fromFloat16Bits(h);
    if (Number.isNaN(v)) continue;
    assert.equal(toFloat16Bits(v), h, `half ${h.toString(16)} (${v})`);
  }
  assert.equal(fromFloat16Bits(0x3c00), 1);
  assert.equal(fromFloat16Bits(0xc000), -2);
  assert.equal(fromFloat16Bits(0x7bff), 65504);
  assert.equal(fromFloat16Bits(0x0001), 2 ** -24);
  assert.equal(fromFloat16Bits(0x7c00), Infinity);
});

test('float16: round to nearest, ties to even, across normals, subnormals and overflow', () => {
  // Between consecutive positive halves a < b: just below the midpoint → a, above → b, at it → the even one.
  for (let h = 0; h < 0x7bff; h += 7) {
    const a = fromFloat16Bits(h);
    const b = fromFloat16Bits(h + 1);
    const mid = (a + b) / 2; // exact in float64, and in float32 for all halves
    assert.equal(Math.fround(mid), mid);
    assert.equal(toFloat16Bits(mid), h % 2 === 0 ? h : h + 1, `tie between ${h} and ${h + 1}`);
    const below = Math.fround(mid - (b - a) / 64);
    const above = Math.fround(mid + (b - a) / 64);
    assert.equal(toFloat16Bits(below), h);
    assert.equal(toFloat16Bits(above), h + 1);
    assert.equal(toFloat16Bits(-above), 0x8000 | (h + 1));
  }
  assert.equal(toFloat16Bits(2 ** -26), 0); // below half the smallest subnormal
  assert.equal(toFloat16Bits(65519), 0x7bff);
  assert.equal(toFloat16Bits(65520), 0x7c00); // rounds to Infinity
  assert.equal(toFloat16Bits(1e9), 0x7c00);
  const src = Float32Array.from([0.1, -3.25, 1e-5]);
  const halves = new Uint16Array(3);
  encodeFloat16(src, halves);
  const back = new Float32Array(3);
  decodeFloat16(halves, back);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(back[i] - src[i]) <= Math.abs(src[i]) * 2 ** -11 + 2 ** -25);
});
