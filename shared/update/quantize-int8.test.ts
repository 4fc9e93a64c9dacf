import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRandom } from '../random/seeded-random.ts';
import { dequantizeInt8Rows, quantizeInt8Rows } from './quantize-int8.ts';

test('int8: per-row max-abs scales, values in [−127, 127], error below one step, zero rows stay zero', () => {
  const x = Float32Array.from([0.5, -0.25, 0.1, 0, 0, 0, 3, -6, 1e-4]);
  const q = quantizeInt8Rows(x, 3, new SeededRandom(1));
  assert.deepEqual([...q.scales], [Math.fround(0.5 / 127), 0, Math.fround(6 / 127)]);
  assert.equal(q.values[0], 127);
  assert.equal(q.values[4], 0);
  assert.equal(q.values[7], -127);
  const back = new Float32Array(9);
  dequantizeInt8Rows(q, back);
  for (let i = 0; i < 9; i++) assert.ok(Math.abs(back[i] - x[i]) < q.scales[Math.floor(i / 3)] * (1 + 1e-6) || back[i] === x[i], `value ${i}`);
  assert.deepEqual([...back.subarray(3, 6)], [0, 0, 0]);
});

test('int8: stochastic rounding is unbiased (the mean of many draws converges to x; round-to-nearest would not)', () => {
  // 0.3 of a step above a level: nearest rounding always gives the lower level (bias −0.3 steps).
  const x = Float32Array.from([1, 0.3 / 127, -40.7 / 127, 100.5 / 127]);
  const rng = new SeededRandom(7);
  const sum = new Float64Array(4);
  const draws = 20000;
  const back = new Float32Array(4);
  for (let k = 0; k < draws; k++) {
    dequantizeInt8Rows(quantizeInt8Rows(x, 1, rng), back);
    for (let i = 0; i < 4; i++) sum[i] += back[i];
  }
  const step = 1 / 127;
  for (let i = 0; i < 4; i++) {
    const mean = sum[i] / draws;
    // Standard error ≤ step/(2√draws) ≈ 2.8e-5; allow 5 of them.
    assert.ok(Math.abs(mean - x[i]) < 5 * step / (2 * Math.sqrt(draws)), `value ${i}: mean ${mean} vs ${x[i]}`);
  }
});
