import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { useNodeBackend } from '../../coordinator/runtime/node-tf-backend.ts';
import { createEmbeddingModel } from '../model/embedding-model.ts';
import { initParams } from '../model/init-params.ts';
import { itemFeatureTable } from '../model/item-feature-tower.ts';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../model/recommender-model.ts';
import { globalDelta } from '../update/global-delta.ts';
import { trainLocally } from './local-training.ts';
import { trainMfTowerLocally, type MfTowerDelta } from './mf-tower-training.ts';

const numItems = 40;
const dim = 6;
// Assorted features per item (some shared, one item with none), 12 buckets so buckets collide.
const names = Array.from({ length: numItems }, (_, i) => (i === 5 ? [] : [`g${i % 4}`, `w${i % 7}`, ...(i % 3 === 0 ? [`d${i % 5}`] : [])]));
const table = itemFeatureTable(names, 12);
const model = createEmbeddingModel({ numItems, dim, itemFeatures: table });
const globals = initParams(model.spec, 'global', 1);
globals.itemBias = Float32Array.from({ length: numItems }, (_, i) => Math.sin(i) * 0.3);
// Non-zero tower so the forward pass reads it (its init is zeros).
globals.featureEmbedding = Float32Array.from({ length: table.buckets * dim }, (_, k) => Math.cos(k * 1.7) * 0.2);
globals.featureBias = Float32Array.from({ length: table.buckets }, (_, k) => Math.sin(k * 0.9) * 0.1);
const locals = initParams(model.spec, 'local', 7);
const history = Int32Array.from({ length: 23 }, (_, k) => (k * 7 + 3) % numItems);

before(async () => {
  await useNodeBackend();
});

function dense(d: MfTowerDelta): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(d)) {
    const width = t.rows.length === 0 ? 0 : t.data.length / t.rows.length;
    const size = name.startsWith('item') ? numItems : table.buckets;
    const v = new Float32Array(size * (name.endsWith('Bias') ? 1 : dim));
    for (let s = 0; s < t.rows.length; s++) v.set(t.data.subarray(s * width, s * width + width), t.rows[s] * width);
    out[name] = v;
  }
  return out;
}

const maxDiff = (x: ArrayLike<number>, y: ArrayLike<number>) => Array.from(x).reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);

const configs: [string, TrainConfig][] = [
  ['one step (one batch of 32)', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 1, batchSize: 32, learningRate: 0.5, l2: 0.01 }],
  ['3 epochs of batches of 8, 12 negatives (repeated rows)', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 3, batchSize: 8, negatives: 12, learningRate: 0.3, l2: 0.001 }],
  ['gradient accumulation over 2 micro-batches of 6', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 2, batchSize: 6, accumulationSteps: 2, learningRate: 0.5, l2: 0.01 }],
];

for (const [name, cfg] of configs) {
  test(`MF tower trainer equals tfjs trainLocally on the tower model within 1e-5 per step (${name})`, async () => {
    const ref = await trainLocally(model, globals, locals, history, cfg, 42);
    const refDelta = globalDelta(model.spec, ref.globals, globals);
    const got = trainMfTowerLocally(model, dim, table, globals as never, locals.userEmbedding, history, cfg, 42);
    assert.equal(got.steps, ref.steps);
    assert.equal(got.numExamples, ref.numExamples);
    const tol = 1e-5 * got.steps;
    const d = dense(got.delta);
    for (const p of ['itemEmbedding', 'itemBias', 'featureEmbedding', 'featureBias']) {
      assert.ok(maxDiff(d[p], refDelta[p]) < tol, `${p}: max |Δ − Δ_tfjs| = ${maxDiff(d[p], refDelta[p])}`);
    }
    // The tower learned something (a feature gradient that is dropped fails the line above).
    assert.ok(maxDiff(d.featureEmbedding, new Float32Array(d.featureEmbedding.length)) > 1e-3);
    assert.ok(maxDiff(got.userEmbedding, ref.locals.userEmbedding) < tol, 'user embedding');
    assert.ok(Math.abs(got.loss - ref.loss) < tol, `loss ${got.loss} vs ${ref.loss}`);
    // Only rows of touched items and of their features are listed, ascending.
    for (const t of Object.values(got.delta)) for (let s = 1; s < t.rows.length; s++) assert.ok(t.rows[s] > t.rows[s - 1]);
  });
}

test('MF tower trainer: Δ clipped to the bound over all four tensors', () => {
  const cfg = { ...DEFAULT_TRAIN_CONFIG, localEpochs: 2, batchSize: 8 };
  const free = trainMfTowerLocally(model, dim, table, globals as never, locals.userEmbedding, history, cfg, 3);
  const clipped = trainMfTowerLocally(model, dim, table, globals as never, locals.userEmbedding, history, cfg, 3, free.preClipNorm / 2);
  assert.equal(clipped.clipped, true);
  assert.ok(Math.abs(clipped.preClipNorm - free.preClipNorm) < 1e-9);
  let sq = 0;
  for (const t of Object.values(clipped.delta)) for (const v of t.data) sq += v * v;
  assert.ok(Math.abs(Math.sqrt(sq) - free.preClipNorm / 2) < 1e-5);
});
