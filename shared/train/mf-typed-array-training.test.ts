import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { useNodeBackend } from '../../coordinator/runtime/node-tf-backend.ts';
import { createEmbeddingModel } from '../model/embedding-model.ts';
import { initParams } from '../model/init-params.ts';
import { DEFAULT_TRAIN_CONFIG } from '../model/recommender-model.ts';
import { clipToL2 } from '../update/l2-clip.ts';
import { globalDelta } from '../update/global-delta.ts';
import { clipRowSparseToL2 } from '../update/row-sparse-clip.ts';
import { trainLocally } from './local-training.ts';
import { densifyMfDelta, MfScratch, trainMfLocally } from './mf-typed-array-training.ts';

const numItems = 60;
const dim = 8;
const model = createEmbeddingModel({ numItems, dim });
const globals = initParams(model.spec, 'global', 1);
// Non-zero biases so the bias gradient path is exercised.
globals.itemBias = Float32Array.from({ length: numItems }, (_, i) => Math.sin(i) * 0.3);
const locals = initParams(model.spec, 'local', 2);
// 40 positives: batches of 32 and 8, with repeated negatives (60 items, 160 negatives).
const history = Int32Array.from({ length: 40 }, (_, i) => (i * 7) % numItems);

before(async () => {
  await useNodeBackend('wasm');
});

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

for (const [name, cfg] of [
  ['1 epoch, default config', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 1 }],
  ['3 epochs, lr 0.2, l2 0.01, 2 negatives', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 3, learningRate: 0.2, l2: 0.01, negatives: 2 }],
  ['gradient accumulation over 2 micro-batches of 8', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 2, batchSize: 8, accumulationSteps: 2 }],
] as const) {
  test(`typed-array MF training matches tfjs trainLocally within 1e-4 (${name})`, async () => {
    const ref = await trainLocally(model, globals, locals, history, cfg, 11);
    const fast = trainMfLocally(model, dim, { itemEmbedding: globals.itemEmbedding, itemBias: globals.itemBias }, locals.userEmbedding, history, cfg, 11, new MfScratch());
    assert.equal(fast.steps, ref.steps);
    assert.equal(fast.numExamples, ref.numExamples);
    assert.ok(Math.abs(fast.loss - ref.loss) < 1e-4, `loss ${fast.loss} vs ${ref.loss}`);
    assert.ok(maxAbsDiff(fast.userEmbedding, ref.locals.userEmbedding) < 1e-4);
    const refDelta = globalDelta(model.spec, ref.globals, globals);
    const dense = densifyMfDelta(fast.delta, numItems, dim);
    assert.ok(maxAbsDiff(dense.itemEmbedding, refDelta.itemEmbedding) < 1e-4, `emb diff ${maxAbsDiff(dense.itemEmbedding, refDelta.itemEmbedding)}`);
    assert.ok(maxAbsDiff(dense.itemBias, refDelta.itemBias) < 1e-4, `bias diff ${maxAbsDiff(dense.itemBias, refDelta.itemBias)}`);
    // Rows outside the working set are exactly untouched by the reference too.
    const touched = new Set(fast.delta.rows);
    for (let i = 0; i < numItems; i++) if (!touched.has(i)) assert.equal(refDelta.itemBias[i], 0);
  });
}

test('row-sparse clipping equals clipToL2 of the densified delta, bit for bit', () => {
  const cfg = { ...DEFAULT_TRAIN_CONFIG, localEpochs: 2 };
  const fast = trainMfLocally(model, dim, { itemEmbedding: globals.itemEmbedding, itemBias: globals.itemBias }, locals.userEmbedding, history, cfg, 3);
  const dense = densifyMfDelta(fast.delta, numItems, dim);
  for (const bound of [1e-3, 1e3]) {
    const a = clipToL2(dense, bound);
    const b = clipRowSparseToL2({ itemEmbedding: { rows: fast.delta.rows, data: fast.delta.itemEmbedding }, itemBias: { rows: fast.delta.rows, data: fast.delta.itemBias } }, bound);
    assert.equal(b.preClipNorm, a.preClipNorm);
    assert.equal(b.clipped, a.clipped);
    const back = densifyMfDelta({ rows: fast.delta.rows, itemEmbedding: b.tensors.itemEmbedding.data, itemBias: b.tensors.itemBias.data }, numItems, dim);
    assert.deepEqual(back.itemEmbedding, a.tensors.itemEmbedding);
    assert.deepEqual(back.itemBias, a.tensors.itemBias);
  }
});
