import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SeededRandom } from '../random/seeded-random.ts';
import { decodeFixedPointSum, encodeFixedPoint, reduceToRing } from './fixed-point-ring.ts';
import { isSecAggError } from './secagg-error.ts';
import { fixedPointScale } from './secagg-params.ts';
import { constantRounding, testParams } from './secagg-test-helpers.ts';

const seeded = (seed: number) => {
  const r = new SeededRandom(seed);
  return { next: () => 1 - r.next() }; // (0, 1]
};

test('the ring sum of up to maxSummands encodings decodes to the sum within maxSummands/scale, at any ring size', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 40 }),
      fc.integer({ min: 12, max: 32 }),
      fc.double({ min: 0.01, max: 100, noNaN: true }),
      fc.integer(),
      (n, ringBits, bound, seed) => {
        const clipBound = Math.fround(bound); // a float32 coordinate can then sit exactly at ±C
        const params = testParams(n, 16, { clipBound, ringBits });
        const rng = new SeededRandom(seed);
        const rounding = seeded(seed ^ 0x5bd1e995);
        const acc = new Uint32Array(16);
        const exact = new Float64Array(16);
        for (let j = 0; j < n; j++) {
          // extremes included: every summand at +C or −C is the worst case for wrapping
          const x = Float32Array.from({ length: 16 }, (_, i) => (i < 2 ? (i === 0 ? 1 : -1) * clipBound : Math.fround((2 * rng.next() - 1) * clipBound)));
          for (let i = 0; i < 16; i++) {
            if (Math.abs(x[i]) > clipBound) x[i] = Math.sign(x[i]) * clipBound;
            exact[i] += x[i];
          }
          const e = encodeFixedPoint(x, params, rounding);
          for (let i = 0; i < 16; i++) acc[i] += e[i];
        }
        const decoded = decodeFixedPointSum(reduceToRing(acc, ringBits), params);
        for (let i = 0; i < 16; i++) assert.ok(Math.abs(decoded[i] - exact[i]) <= n / params.scale, `coordinate ${i}: ${decoded[i]} vs ${exact[i]}, bound ${n / params.scale}`);
      },
    ),
    { numRuns: 200 },
  );
});

test('n summands all at +C (or all at −C) do not wrap the ring', () => {
  for (const sign of [1, -1]) {
    const params = testParams(50, 1, { ringBits: 16 });
    const acc = new Uint32Array(1);
    for (let j = 0; j < 50; j++) acc[0] += encodeFixedPoint(Float32Array.of(sign), params, constantRounding())[0];
    const decoded = decodeFixedPointSum(reduceToRing(acc, 16), params)[0];
    assert.equal(Math.sign(decoded), sign);
    assert.ok(Math.abs(decoded - 50 * sign) <= 50 / params.scale);
  }
});

test('stochastic rounding is unbiased: the mean encoding of x converges to x·scale, not to the nearest integer', () => {
  const params = testParams(1000, 1); // scale ≈ 2.1e6
  const x = Float32Array.of(0.3 / params.scale); // 0.3 of one quantisation step: nearest rounding would give 0
  const rounding = seeded(7);
  let total = 0;
  const draws = 20000;
  for (let k = 0; k < draws; k++) total += decodeFixedPointSum(encodeFixedPoint(x, params, rounding), params)[0];
  const mean = (total / draws) * params.scale;
  assert.ok(Math.abs(mean - 0.3) < 0.02, `mean encoding ${mean} steps, expected 0.3`);
});

test('the scale leaves room for exactly maxSummands encodings at the clip bound', () => {
  const s = fixedPointScale(2, 1000, 32);
  assert.ok(1000 * Math.round(2 * s) <= 2 ** 31 - 1);
  assert.ok(1000 * (Math.round(2 * s) + 1) > 2 ** 31 - 1 - 1000);
  assert.throws(() => fixedPointScale(1, 1000, 8), (e) => isSecAggError(e, 'bad-params'));
});

test('coordinates outside [−C, C], non-finite values and wrong lengths are refused', () => {
  const params = testParams(4, 3, { clipBound: 0.5 });
  for (const bad of [0.51, -0.6, NaN, Infinity]) {
    assert.throws(() => encodeFixedPoint(Float32Array.of(0, bad, 0), params, constantRounding()), (e) => isSecAggError(e, 'out-of-range'));
  }
  assert.throws(() => encodeFixedPoint(new Float32Array(4), params, constantRounding()), (e) => isSecAggError(e, 'malformed'));
});
