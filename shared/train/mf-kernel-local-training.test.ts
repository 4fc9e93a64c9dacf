import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { useNodeBackend } from '../../coordinator/runtime/node-tf-backend.ts';
import { leaveOneOutSplit } from '../data/leave-one-out.ts';
import { generateSyntheticDataset } from '../data/synthetic-dataset.ts';
import { FlockError } from '../errors.ts';
import { initParams } from '../model/init-params.ts';
import { itemFeatureTable } from '../model/item-feature-tower.ts';
import { createModel, type MfModelDescriptor } from '../model/model-registry.ts';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../model/recommender-model.ts';
import { deriveSeed } from '../random/seeded-random.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { buildUpdate } from '../update/build-update.ts';
import { trainLocally } from './local-training.ts';
import { MfKernelTrainer } from './mf-kernel-local-training.ts';

// Real-ish histories: the project's synthetic generator (taste + popularity, walk order), leave-one-out train parts.
const data = generateSyntheticDataset({ users: 40, items: 120, seed: 5, meanInteractionsPerUser: 25 });
const split = leaveOneOutSplit(data);
const clients = [0, 7, 19, 33].map((u) => split.train[u]);
const features = itemFeatureTable(data.itemFeatures!.map((f) => [...f]), 24);

const cfgs: [string, TrainConfig][] = [
  ['1 epoch, lr 0.05, 4 negatives', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 1, learningRate: 0.05, negatives: 4 }],
  ['2 epochs, batch 8, lr 0.3, l2 0.01', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 2, batchSize: 8, learningRate: 0.3, l2: 0.01 }],
  ['accumulation: 2 micro-batches of 5 (an odd number of batches)', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 1, batchSize: 5, accumulationSteps: 2 }],
];

const descriptors: [string, MfModelDescriptor, string][] = [
  ['plain MF, dim 8', { kind: 'mf', numItems: data.numItems, dim: 8 }, 'mf-wasm-simd'],
  ['plain MF, dim 6 (not a multiple of 4)', { kind: 'mf', numItems: data.numItems, dim: 6 }, 'mf-js'],
  ['plain MF with retired items', { kind: 'mf', numItems: data.numItems, dim: 8, retiredItems: [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89] }, 'mf-js'],
  ['MF with the item-feature tower', { kind: 'mf', numItems: data.numItems, dim: 8, itemFeatures: features }, 'mf-tower-js'],
];

let kernels: MfKernelTrainer;
before(async () => {
  await useNodeBackend('wasm');
  kernels = await MfKernelTrainer.load();
});

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Non-trivial globals: random init plus a non-zero bias and (with the tower) non-zero feature rows. */
function globalsFor(d: MfModelDescriptor): NamedTensors {
  const g = initParams(createModel(d).spec, 'global', 3);
  g.itemBias = Float32Array.from({ length: d.numItems }, (_, i) => Math.sin(i) * 0.3);
  if (d.itemFeatures) {
    g.featureEmbedding = Float32Array.from({ length: d.itemFeatures.buckets * d.dim }, (_, k) => Math.cos(k * 1.7) * 0.2);
    g.featureBias = Float32Array.from({ length: d.itemFeatures.buckets }, (_, k) => Math.sin(k * 0.9) * 0.1);
  }
  return g;
}

for (const [dname, d, expected] of descriptors) {
  for (const [cname, cfg] of cfgs) {
    test(`kernel local training equals tfjs trainLocally within 1e-5 per step: ${dname}, ${cname}`, async () => {
      assert.equal(kernels.wasmProblem, null, 'Node has WebAssembly SIMD: the wasm kernel must load');
      const model = createModel(d);
      const globals = globalsFor(d);
      for (const [c, history] of clients.entries()) {
        const locals = initParams(model.spec, 'local', 100 + c);
        const seed = deriveSeed(9, 1, c);
        const ref = await trainLocally(model, globals, locals, history, cfg, seed);
        const got = kernels.train(d, model, globals, locals, history, cfg, seed);
        assert.equal(got.trainer, expected);
        assert.equal(got.steps, ref.steps);
        assert.equal(got.numExamples, ref.numExamples);
        const tol = 1e-5 * ref.steps;
        assert.deepEqual(Object.keys(got.globals).sort(), Object.keys(ref.globals).sort());
        for (const name of Object.keys(ref.globals)) {
          assert.ok(maxAbsDiff(got.globals[name], ref.globals[name]) < tol, `client ${c} ${name}: max |kernel − tfjs| = ${maxAbsDiff(got.globals[name], ref.globals[name])} over ${ref.steps} steps`);
        }
        assert.ok(maxAbsDiff(got.locals.userEmbedding, ref.locals.userEmbedding) < tol, `client ${c} user vector`);
        assert.ok(Math.abs(got.loss - ref.loss) < tol, `client ${c} loss ${got.loss} vs ${ref.loss}`);
        // Training moved something (a kernel that returns the base unchanged fails the lines above only by luck).
        assert.ok(maxAbsDiff(got.globals.itemEmbedding, globals.itemEmbedding) > 1e-4);
        // The inputs are left as they were.
        assert.deepEqual(locals.userEmbedding, initParams(model.spec, 'local', 100 + c).userEmbedding);
        // Clipped once, by buildUpdate (the kernel's own clip is off): a binding bound gives the same update as after tfjs.
        const free = buildUpdate(model.spec, ref.globals, globals, { round: 1, baseVersion: 0, numExamples: ref.numExamples, clipNorm: 1e9 });
        const meta = { round: 1, baseVersion: 0, numExamples: ref.numExamples, clipNorm: free.preClipNorm / 2 };
        const a = buildUpdate(model.spec, got.globals, globals, meta);
        const b = buildUpdate(model.spec, ref.globals, globals, meta);
        assert.equal(a.clipped, true);
        assert.ok(Math.abs(a.preClipNorm - b.preClipNorm) < tol * 10, `pre-clip norm ${a.preClipNorm} vs ${b.preClipNorm}`);
        for (const name of Object.keys(b.delta)) assert.ok(maxAbsDiff(a.delta[name], b.delta[name]) < tol, `clipped Δ ${name}`);
      }
    });
  }
}

test('an empty history trains nothing: the globals and locals as they were, no examples', () => {
  const d: MfModelDescriptor = { kind: 'mf', numItems: data.numItems, dim: 8 };
  const model = createModel(d);
  const globals = globalsFor(d);
  const locals = initParams(model.spec, 'local', 1);
  const r = kernels.train(d, model, globals, locals, new Int32Array(0), DEFAULT_TRAIN_CONFIG, 1);
  assert.deepEqual(r.globals, globals);
  assert.deepEqual(r.locals, locals);
  assert.equal(r.numExamples, 0);
  assert.equal(r.steps, 0);
});

test('bad input is refused with a typed error and trains nothing', () => {
  const d: MfModelDescriptor = { kind: 'mf', numItems: data.numItems, dim: 8 };
  const model = createModel(d);
  const globals = globalsFor(d);
  const before = Float32Array.from(globals.itemEmbedding);
  const locals = initParams(model.spec, 'local', 1);
  const code = (c: string) => (e: unknown) => e instanceof FlockError && e.code === c;
  assert.throws(() => kernels.train(d, model, globals, locals, Int32Array.from([3, data.numItems]), DEFAULT_TRAIN_CONFIG, 1), code('bad-data'));
  assert.throws(() => kernels.train(d, model, globals, locals, Int32Array.from([3, -1]), DEFAULT_TRAIN_CONFIG, 1), code('bad-data'));
  assert.throws(() => kernels.train(d, model, globals, { userEmbedding: new Float32Array(16) }, Int32Array.from([3]), DEFAULT_TRAIN_CONFIG, 1), code('wrong-shape'));
  assert.deepEqual(globals.itemEmbedding, before);
});

test('a trainer without the wasm kernel trains plain MF on the JS kernel, within 1e-5 per step of the wasm one', () => {
  const d: MfModelDescriptor = { kind: 'mf', numItems: data.numItems, dim: 8 };
  const model = createModel(d);
  const globals = globalsFor(d);
  const js = MfKernelTrainer.jsOnly('test: no wasm');
  assert.equal(js.trainerFor(d), 'mf-js');
  const locals = initParams(model.spec, 'local', 4);
  const a = js.train(d, model, globals, locals, clients[1], cfgs[0][1], 77);
  const b = kernels.train(d, model, globals, locals, clients[1], cfgs[0][1], 77);
  assert.equal(a.trainer, 'mf-js');
  assert.equal(b.trainer, 'mf-wasm-simd');
  assert.ok(maxAbsDiff(a.globals.itemEmbedding, b.globals.itemEmbedding) < 1e-5 * a.steps);
});
