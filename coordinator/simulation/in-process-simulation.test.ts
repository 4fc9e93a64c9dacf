import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { applyServerUpdate } from '../../shared/aggregate/apply-server-update.ts';
import { RoundAggregation } from '../../shared/aggregate/round-aggregation.ts';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { createEmbeddingModel, type PairBatch } from '../../shared/model/embedding-model.ts';
import { initParams } from '../../shared/model/init-params.ts';
import type { RecommenderModel } from '../../shared/model/recommender-model.ts';
import { deriveSeed, hashString } from '../../shared/random/seeded-random.ts';
import { densifyMfDelta, trainMfLocally } from '../../shared/train/mf-typed-array-training.ts';
import { clipToL2 } from '../../shared/update/l2-clip.ts';
import { decodeUpdate, encodeUpdate, toWireTensors } from '../../shared/update/tensor-codec.ts';
import { sampleParticipants } from '../rounds/sample-participants.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { aggregationSettingsFor, clientsForRound, fleetClientId } from './federated-rounds.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { researchSplit } from './simulation-data.ts';

const dataset = generateSyntheticDataset({ users: 120, items: 80, seed: 5, meanInteractionsPerUser: 12 });
const split = researchSplit(dataset);
const cfg: SimulationConfig = {
  dim: 8, seed: 3, rounds: 3, clientsPerRound: 0.5, localEpochs: 2, batchSize: 8, learningRate: 0.3, negatives: 3,
  l2: 1e-3, clipNorm: 0.5, serverLearningRate: 2, rowNormalize: true, evalEvery: 1, trainer: 'typed-array',
};
const metricsOnly = (r: Awaited<ReturnType<typeof runInProcessSimulation>>) => ({
  rounds: r.rounds.map(({ seconds: _s, ...m }) => m),
  evaluations: r.evaluations,
});

before(async () => {
  await useNodeBackend('wasm');
});

test('the same seed gives identical metrics and weights; another seed does not', async () => {
  const a = await runInProcessSimulation(dataset, split, cfg);
  const b = await runInProcessSimulation(dataset, split, cfg);
  assert.deepEqual(metricsOnly(a), metricsOnly(b));
  assert.deepEqual(a.globals, b.globals);
  assert.equal(a.rounds.length, 3);
  assert.equal(a.evaluations.length, 4);
  assert.ok(a.rounds.every((r) => r.clients === 60 && r.bytesUploaded > 0 && r.fractionClipped >= 0 && r.fractionClipped <= 1));
  const c = await runInProcessSimulation(dataset, split, { ...cfg, seed: 4 });
  assert.notDeepEqual(metricsOnly(c).rounds, metricsOnly(a).rounds);
});

for (const [name, over] of [
  ['default weighting and combine', {}],
  ['uniform weighting, median', { weighting: { kind: 'uniform' }, combine: { kind: 'median' } }],
  ['examples-capped:10, trimmed mean', { weighting: { kind: 'examples-capped', cap: 10 }, combine: { kind: 'trimmed-mean', trim: 0.2 } }],
] as const) test(`a round's model equals the coordinator's path (${name}): dense Δ, clipToL2, encode/decode, RoundAggregation.add, applyServerUpdate`, async () => {
  const one: SimulationConfig = { ...cfg, rounds: 1, evalEvery: 0, ...over };
  // The JS fused kernel is bit-identical to trainMfLocally; the default wasm one agrees within float32 rounding.
  const sim = await runInProcessSimulation(dataset, split, one, {}, undefined, 'js');
  const wasm = await runInProcessSimulation(dataset, split, one, {}, undefined, 'wasm');

  const model = createEmbeddingModel({ numItems: dataset.numItems, dim: cfg.dim }) as RecommenderModel<PairBatch>;
  const base = initParams(model.spec, 'global', cfg.seed);
  const eligible = [...Array(split.train.length).keys()].filter((u) => split.train[u].length > 0);
  const selected = sampleParticipants(eligible, 0, clientsForRound(eligible.length, cfg.clientsPerRound), deriveSeed(cfg.seed, 1));
  const acc = new RoundAggregation(model.spec, aggregationSettingsFor(one));
  for (const u of selected) {
    const pSeed = hashString(fleetClientId(cfg.seed, u));
    const locals = initParams(model.spec, 'local', pSeed);
    const res = trainMfLocally(model, cfg.dim, base as never, locals.userEmbedding, split.train[u], { ...one }, deriveSeed(deriveSeed(cfg.seed, 1, 1), 1, pSeed));
    const clipped = clipToL2(densifyMfDelta(res.delta, dataset.numItems, cfg.dim), cfg.clipNorm);
    const bytes = encodeUpdate({ round: 1, baseVersion: 0, numExamples: res.numExamples, preClipNorm: clipped.preClipNorm, tensors: toWireTensors(model.spec, clipped.tensors) });
    const update = decodeUpdate(bytes);
    acc.add(update);
  }
  assert.equal(acc.count, selected.length);
  const expected = applyServerUpdate(base, acc.result(), cfg.serverLearningRate);
  assert.deepEqual(sim.globals.itemEmbedding, expected.itemEmbedding);
  assert.deepEqual(sim.globals.itemBias, expected.itemBias);
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  assert.ok(maxDiff(wasm.globals.itemEmbedding, expected.itemEmbedding) < 1e-5, `wasm kernel: ${maxDiff(wasm.globals.itemEmbedding, expected.itemEmbedding)}`);
  assert.ok(maxDiff(wasm.globals.itemBias, expected.itemBias) < 1e-5);
});

test('the typed-array trainer and the tfjs trainer (trainLocally + buildUpdate) reach the same model', async () => {
  const small = generateSyntheticDataset({ users: 40, items: 50, seed: 9, meanInteractionsPerUser: 8 });
  const s = researchSplit(small);
  const c = { ...cfg, rounds: 2, clientsPerRound: 1, localEpochs: 1, evalEvery: 0 };
  const fast = await runInProcessSimulation(small, s, c);
  const ref = await runInProcessSimulation(small, s, { ...c, trainer: 'tfjs' });
  const diff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  assert.ok(diff(fast.globals.itemEmbedding, ref.globals.itemEmbedding) < 1e-4);
  assert.ok(diff(fast.globals.itemBias, ref.globals.itemBias) < 1e-4);
  for (let i = 0; i < 2; i++) {
    assert.ok(Math.abs(fast.rounds[i].trainLoss - ref.rounds[i].trainLoss) < 1e-4);
    assert.ok(Math.abs(fast.rounds[i].meanPreClipNorm - ref.rounds[i].meanPreClipNorm) < 1e-4);
    assert.equal(fast.rounds[i].bytesUploaded, ref.rounds[i].bytesUploaded);
  }
});

test('clientsForRound: fraction or count, at least 1, at most all', () => {
  assert.equal(clientsForRound(943, 1), 943);
  assert.equal(clientsForRound(943, 0.1), 95);
  assert.equal(clientsForRound(943, 50), 50);
  assert.equal(clientsForRound(10, 50), 10);
  assert.equal(clientsForRound(10, 0.01), 1);
});

test('worker_threads give exactly the same rounds and model as the main thread', async () => {
  const a = await runInProcessSimulation(dataset, split, { ...cfg, rounds: 2 });
  const b = await runInProcessSimulation(dataset, split, { ...cfg, rounds: 2, workers: 2 });
  assert.deepEqual(metricsOnly(b), metricsOnly(a));
  assert.deepEqual(b.globals, a.globals);
});

test('server optimizer: sgd is the default, momentum with β = 0 is exactly sgd, adam and momentum move the model differently', async () => {
  const base = await runInProcessSimulation(dataset, split, cfg);
  const sgd = await runInProcessSimulation(dataset, split, { ...cfg, serverOptimizer: 'sgd' });
  assert.deepEqual(sgd.globals, base.globals);
  const m0 = await runInProcessSimulation(dataset, split, { ...cfg, serverOptimizer: 'momentum', serverMomentum: 0 });
  assert.deepEqual(m0.globals, base.globals);
  const m9 = await runInProcessSimulation(dataset, split, { ...cfg, serverOptimizer: 'momentum', serverMomentum: 0.9 });
  assert.notDeepEqual(m9.globals, base.globals);
  const adam = await runInProcessSimulation(dataset, split, { ...cfg, serverOptimizer: 'adam', serverLearningRate: 0.01 });
  const adam2 = await runInProcessSimulation(dataset, split, { ...cfg, serverOptimizer: 'adam', serverLearningRate: 0.01 });
  assert.deepEqual(adam.globals, adam2.globals);
  assert.notDeepEqual(adam.globals, base.globals);
  for (const e of adam.evaluations) assert.ok(e.validation && e.validation.users > 0 && Number.isFinite(e.validation.sampled.ndcg10));
});

test('the test protocol changes the test metrics only, never training or validation', async () => {
  const a = await runInProcessSimulation(dataset, split, { ...cfg, testHistory: 'train+validation' });
  const b = await runInProcessSimulation(dataset, split, { ...cfg, testHistory: 'train' });
  assert.deepEqual(a.globals, b.globals);
  assert.deepEqual(a.evaluations.map((e) => e.validation), b.evaluations.map((e) => e.validation));
});
