import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { applyServerUpdate } from './apply-server-update.ts';
import { StreamingWeightedMean } from './streaming-weighted-mean.ts';

const spec: ModelSpec = {
  kind: 'mf',
  params: [
    { name: 'emb', shape: [3, 2], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'bias', shape: [3], scope: 'global', init: { kind: 'zeros' } },
    { name: 'user', shape: [2], scope: 'local', init: { kind: 'zeros' } },
  ],
};

test('matches a naive weighted mean over 50 random updates', () => {
  const rnd = new SeededRandom(7);
  const agg = new StreamingWeightedMean(spec);
  const all: { emb: Float32Array; bias: Float32Array; w: number }[] = [];
  for (let k = 0; k < 50; k++) {
    const emb = Float32Array.from({ length: 6 }, () => rnd.normal());
    const bias = Float32Array.from({ length: 3 }, () => rnd.normal() * 10);
    const w = 1 + rnd.int(500);
    all.push({ emb, bias, w });
    agg.add({ emb, bias }, w);
  }
  const W = all.reduce((s, u) => s + u.w, 0);
  assert.equal(agg.count, 50);
  assert.equal(agg.totalWeight, W);
  const m = agg.mean();
  assert.deepEqual(Object.keys(m).sort(), ['bias', 'emb']);
  for (const [name, len] of [['emb', 6], ['bias', 3]] as const) {
    for (let i = 0; i < len; i++) {
      const naive = all.reduce((s, u) => s + u.w * u[name][i], 0) / W;
      assert.ok(Math.abs(m[name][i] - naive) < 1e-6, `${name}[${i}] ${m[name][i]} vs ${naive}`);
    }
  }
});

test('rowNormalize divides each row by the weight of clients that touched it', () => {
  const agg = new StreamingWeightedMean(spec, { rowNormalize: true });
  // Client A (w=1) touches row 0; client B (w=3) touches rows 0 and 1; nobody touches row 2.
  agg.add({ emb: Float32Array.from([4, 4, 0, 0, 0, 0]), bias: Float32Array.from([1, 0, 0]) }, 1);
  agg.add({ emb: Float32Array.from([0, 8, 2, -2, 0, 0]), bias: Float32Array.from([5, 4, 0]) }, 3);
  const m = agg.mean();
  // Row 0: (1·[4,4] + 3·[0,8]) / 4 = [1, 7]; row 1: 3·[2,-2] / 3 = [2,-2]; row 2 stays 0.
  assert.deepEqual(Array.from(m.emb), [1, 7, 2, -2, 0, 0]);
  // Dense params keep the ordinary weighted mean: (1·[1,0,0] + 3·[5,4,0]) / 4.
  assert.deepEqual(Array.from(m.bias), [4, 3, 0]);
  // Without rowNormalize row 1 would be diluted by client A.
  const plain = new StreamingWeightedMean(spec);
  plain.add({ emb: Float32Array.from([4, 4, 0, 0, 0, 0]), bias: new Float32Array(3) }, 1);
  plain.add({ emb: Float32Array.from([0, 8, 2, -2, 0, 0]), bias: new Float32Array(3) }, 3);
  assert.deepEqual(Array.from(plain.mean().emb), [1, 7, 1.5, -1.5, 0, 0]);
});

test('rejects bad weights, bad deltas and an empty mean', () => {
  const agg = new StreamingWeightedMean(spec);
  const ok = { emb: new Float32Array(6), bias: new Float32Array(3) };
  for (const w of [0, -1, NaN, Infinity]) assert.throws(() => agg.add(ok, w), FlockError);
  assert.throws(() => agg.add({ emb: new Float32Array(6) }, 1), FlockError);
  assert.throws(() => agg.add({ ...ok, user: new Float32Array(2) }, 1), FlockError);
  assert.throws(() => agg.add({ ...ok, bias: new Float32Array(2) }, 1), FlockError);
  assert.equal(agg.count, 0);
  assert.throws(() => agg.mean(), FlockError);
});

test('applyServerUpdate: new = old + lr × mean, in new arrays', () => {
  const globals = { emb: Float32Array.from([1, 2]), other: Float32Array.from([9]) };
  const out = applyServerUpdate(globals, { emb: Float32Array.from([0.5, -1]) }, 2);
  assert.deepEqual(Array.from(out.emb), [2, 0]);
  assert.deepEqual(Array.from(out.other), [9]);
  assert.notEqual(out.other, globals.other);
  assert.deepEqual(Array.from(globals.emb), [1, 2]);
  assert.throws(() => applyServerUpdate(globals, { emb: new Float32Array(3) }, 1), FlockError);
  assert.throws(() => applyServerUpdate(globals, { nope: new Float32Array(1) }, 1), FlockError);
});
