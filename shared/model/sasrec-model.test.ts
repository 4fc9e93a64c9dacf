import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { useNodeBackend } from '../../coordinator/runtime/node-tf-backend.ts';
import { ModelDescriptorSchema } from '../protocol/messages.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { trainLocally } from '../train/local-training.ts';
import { initParams } from './init-params.ts';
import { globalParams, localParams } from './model-spec.ts';
import { createModel } from './model-registry.ts';
import type { TrainConfig } from './recommender-model.ts';
import { arrayEncoderOps, createSequenceModel, encodeSequence, tfjsEncoderOps, type SequenceModelConfig } from './sasrec-model.ts';

const cfg: SequenceModelConfig = { numItems: 50, dim: 16, maxLen: 10, blocks: 2, heads: 2, dropout: 0.1 };
const model = createSequenceModel(cfg);
const tc: TrainConfig = { localEpochs: 1, batchSize: 32, learningRate: 0.1, negatives: 1, l2: 0 };
/** Item i is always followed by item i + 1. */
const pattern = Int32Array.from({ length: 30 }, (_, i) => i);

before(async () => {
  await useNodeBackend('wasm');
});

function rankOf(scores: Float32Array, item: number): number {
  return Array.from(scores).filter((s) => s > scores[item]).length;
}

test('spec: every parameter is global, the item table is row-sparse with one row per item', () => {
  assert.equal(model.spec.kind, 'sasrec');
  assert.equal(localParams(model.spec).length, 0);
  assert.equal(globalParams(model.spec).length, model.spec.params.length);
  const items = model.spec.params.find((p) => p.name === 'itemEmbedding')!;
  assert.deepEqual(items.shape, [50, 16]);
  assert.equal(items.rowSparse, true);
  assert.equal(model.spec.params.filter((p) => p.rowSparse).length, 1);
  const g = initParams(model.spec, 'global', 1);
  assert.deepEqual(Array.from(g['block0.attnNorm.gain']), new Array(16).fill(1));
  assert.throws(() => createSequenceModel({ ...cfg, heads: 3 }), /divisible/);
});

test('makeBatches: left-padded windows of maxLen, targets shifted by one, negatives outside the history', () => {
  const history = Int32Array.from({ length: 23 }, (_, i) => 20 + i); // 22 transitions → windows of 10, 10, 2
  const batches = model.makeBatches(history, { ...tc, negatives: 2 }, 50, new SeededRandom(3));
  assert.equal(batches.length, 1);
  const b = batches[0];
  assert.equal(b.rows, 3);
  assert.equal(b.numTargets, history.length - 1);
  assert.equal(model.batchExamples(b), 22);
  const seen = new Set(history);
  let real = 0;
  for (let i = 0; i < b.rows * cfg.maxLen; i++) {
    if (b.mask[i] === 0) {
      assert.equal(b.inputs[i], 0);
      continue;
    }
    real++;
    // In this history the next item is always the input + 1.
    assert.equal(b.positives[i], b.inputs[i] + 1);
    for (let j = 0; j < 2; j++) assert.ok(!seen.has(b.negatives[i * 2 + j]), 'negative drawn from the history');
    // Left padding: once a row starts, it stays real to the end.
    if (i % cfg.maxLen < cfg.maxLen - 1) assert.equal(b.mask[i + 1], 1);
  }
  assert.equal(real, 22);
  // batchSize counts windows.
  assert.equal(model.makeBatches(history, { ...tc, batchSize: 2 }, 50, new SeededRandom(3)).length, 2);
  assert.deepEqual(model.makeBatches(Int32Array.from([4]), tc, 50, new SeededRandom(3)), []);
});

/** Hidden states of two windows, [2][maxLen][dim], from the tfjs and the typed-array encoder. */
function encodeBoth(g: NamedTensors, a: Int32Array, b: Int32Array, mask: Float32Array): { tfjs: number[][][]; arrays: number[][][] } {
  const window = { rows: 2, inputs: Int32Array.from([...a, ...b]), mask: Float32Array.from([...mask, ...mask]) };
  const out = tf.tidy(() => {
    const p: Record<string, tf.Tensor> = {};
    for (const ps of model.spec.params) p[ps.name] = tf.tensor(g[ps.name], [...ps.shape]);
    return encodeSequence(cfg, tfjsEncoderOps(cfg, p, window, null));
  });
  const flat = [Array.from(out.dataSync()), Array.from(encodeSequence(cfg, arrayEncoderOps(cfg, g, window)).data)];
  out.dispose();
  const [tfjs, arrays] = flat.map((f) =>
    [0, 1].map((w) => Array.from({ length: cfg.maxLen }, (_, t) => f.slice((w * cfg.maxLen + t) * cfg.dim, (w * cfg.maxLen + t + 1) * cfg.dim))),
  );
  return { tfjs, arrays };
}

test('causality: position t does not depend on items after t (both encoders, which agree)', () => {
  const g = initParams(model.spec, 'global', 7);
  const a = Int32Array.from([0, 0, 3, 9, 4, 11, 17, 2, 8, 5]);
  const b = Int32Array.from([0, 0, 3, 9, 4, 11, 40, 41, 42, 43]); // differs from position 6 on
  const mask = Float32Array.from([0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
  const both = encodeBoth(g, a, b, mask);
  for (const h of [both.tfjs, both.arrays]) {
    for (let t = 0; t < 6; t++) {
      for (let d = 0; d < cfg.dim; d++) assert.ok(Math.abs(h[0][t][d] - h[1][t][d]) < 1e-6, `position ${t} changed`);
    }
    for (let t = 6; t < cfg.maxLen; t++) assert.ok(h[0][t].some((v, d) => Math.abs(v - h[1][t][d]) > 1e-4), `position ${t} should change`);
  }
  let worst = 0;
  for (let w = 0; w < 2; w++) {
    for (let t = 0; t < cfg.maxLen; t++) for (let d = 0; d < cfg.dim; d++) worst = Math.max(worst, Math.abs(both.tfjs[w][t][d] - both.arrays[w][t][d]));
  }
  assert.ok(worst < 1e-4, `tfjs and typed-array encoders differ by ${worst}`);
});

test('scoreAll reads the last position: it equals the tfjs encoder dotted with the item table', () => {
  const g = initParams(model.spec, 'global', 8);
  const history = Int32Array.from([5, 6, 30, 31, 2, 9, 44, 1, 0, 12, 13, 14]); // longer than maxLen: last 10 used
  const scores = model.scoreAll(g, {}, history);
  const expected = tf.tidy(() => {
    const p: Record<string, tf.Tensor> = {};
    for (const ps of model.spec.params) p[ps.name] = tf.tensor(g[ps.name], [...ps.shape]);
    const window = { rows: 1, inputs: history.slice(-cfg.maxLen), mask: new Float32Array(cfg.maxLen).fill(1) };
    const h = tf.slice(encodeSequence(cfg, tfjsEncoderOps(cfg, p, window, null)), [cfg.maxLen - 1, 0], [1, cfg.dim]);
    return tf.matMul(h, p.itemEmbedding as tf.Tensor2D, false, true);
  });
  const e = expected.dataSync();
  expected.dispose();
  for (let i = 0; i < cfg.numItems; i++) assert.ok(Math.abs(scores[i] - e[i]) < 1e-4, `item ${i}: ${scores[i]} vs ${e[i]}`);
  // Short and empty histories are left-padded.
  const short = model.scoreAll(g, {}, Int32Array.from([7, 8]));
  assert.ok(short.every(Number.isFinite));
  assert.ok(model.scoreAll(g, {}, new Int32Array(0)).every(Number.isFinite));
});

test('training lowers the loss, is deterministic per seed, and leaks no tensors', async () => {
  const g = initParams(model.spec, 'global', 1);
  const before = tf.memory().numTensors;
  const short = await trainLocally(model, g, {}, pattern, { ...tc, localEpochs: 1 }, 5);
  const long = await trainLocally(model, g, {}, pattern, { ...tc, localEpochs: 30 }, 5);
  assert.ok(long.loss < short.loss * 0.5, `loss after 30 epochs ${long.loss} should be well below 1 epoch ${short.loss}`);
  assert.equal(short.numExamples, pattern.length - 1);
  for (let i = 0; i < 3; i++) {
    await trainLocally(model, g, {}, pattern, { ...tc, localEpochs: 2 }, 10 + i);
    model.scoreAll(g, {}, pattern.subarray(0, 8 + i));
  }
  model.scoreAll(g, {}, new Int32Array(0));
  assert.equal(tf.memory().numTensors, before, 'tensors leaked by trainLocally or scoreAll');

  const a = await trainLocally(model, g, {}, pattern, { ...tc, localEpochs: 2 }, 42);
  const b = await trainLocally(model, g, {}, pattern, { ...tc, localEpochs: 2 }, 42);
  const c = await trainLocally(model, g, {}, pattern, { ...tc, localEpochs: 2 }, 43);
  for (const p of model.spec.params) assert.deepEqual(a.globals[p.name], b.globals[p.name], `${p.name} differs for the same seed`);
  assert.notDeepEqual(a.globals['block0.query.kernel'], c.globals['block0.query.kernel']);
  // Only rows of items in the history or sampled as negatives move (trainLocally's batches, replayed).
  const touched = new Set<number>(pattern);
  const replay = new SeededRandom(42);
  for (let e = 0; e < 2; e++) for (const batch of model.makeBatches(pattern, tc, 50, replay)) for (const n of batch.negatives) touched.add(n);
  assert.ok(touched.size < 50, 'every row touched: the check below would be empty');
  for (let item = 0; item < 50; item++) {
    const row = (t: NamedTensors) => Array.from(t.itemEmbedding.subarray(item * 16, item * 16 + 16));
    if (touched.has(item)) assert.notDeepEqual(row(a.globals), row(g), `row ${item} should move`);
    else assert.deepEqual(row(a.globals), row(g), `row ${item} moved without being touched`);
  }
});

test('after training on "i is followed by i + 1", the item after 7 is ranked top 5', async () => {
  // Many short users, each a run of consecutive items: other users' runs supply negatives.
  const users: Int32Array[] = [];
  for (let s = 0; s + 8 <= cfg.numItems; s++) users.push(Int32Array.from({ length: 8 }, (_, i) => s + i));
  let g: NamedTensors = initParams(model.spec, 'global', 1);
  for (let round = 0; round < 10; round++) {
    for (let u = 0; u < users.length; u++) g = (await trainLocally(model, g, {}, users[u], tc, round * 1000 + u)).globals;
  }
  const scores = model.scoreAll(g, {}, Int32Array.from([3, 4, 5, 6, 7]));
  assert.equal(scores.length, cfg.numItems);
  assert.ok(scores.every(Number.isFinite));
  assert.ok(rankOf(scores, 8) < 5, `item 8 ranked ${rankOf(scores, 8)} after 7`);
});

test('fold-in (trainable: local) is a no-op: the sequence model has no local parameters', async () => {
  const g = initParams(model.spec, 'global', 1);
  const res = await trainLocally(model, g, {}, pattern, { ...tc, localEpochs: 3 }, 1, { trainable: 'local' });
  assert.equal(res.steps, 0);
  assert.deepEqual(res.globals, g);
  assert.deepEqual(res.locals, {});
});

test('the model registry and the protocol schema know the sequence model; mf is unchanged', () => {
  const d = { kind: 'sasrec', numItems: 50, dim: 16, maxLen: 10, blocks: 2, heads: 2, dropout: 0.1 } as const;
  assert.deepEqual(ModelDescriptorSchema.parse(d), d);
  assert.equal(createModel(d).spec.kind, 'sasrec');
  assert.deepEqual(createModel(d).spec, model.spec);
  assert.equal(ModelDescriptorSchema.safeParse({ ...d, heads: 3 }).success, false);
  assert.equal(ModelDescriptorSchema.safeParse({ ...d, dropout: 1 }).success, false);
  assert.equal(ModelDescriptorSchema.safeParse({ kind: 'sasrec', numItems: 50, dim: 16 }).success, false);
  const mf = { kind: 'mf', numItems: 50, dim: 8 } as const;
  assert.deepEqual(ModelDescriptorSchema.parse(mf), mf);
  assert.equal(createModel(mf).spec.kind, 'mf');
  assert.equal(ModelDescriptorSchema.safeParse({ kind: 'rnn', numItems: 50, dim: 8 }).success, false);
});
