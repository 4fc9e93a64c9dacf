import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { trainCentralizedSequence } from './sequence-simulation.ts';
import { researchSplit } from './simulation-data.ts';

const dataset = generateSyntheticDataset({ users: 30, items: 40, seed: 4, meanInteractionsPerUser: 10 });
const split = researchSplit(dataset);
const cfg: SimulationConfig = {
  dim: 8, seed: 2, rounds: 2, clientsPerRound: 0.5, localEpochs: 1, batchSize: 4, learningRate: 0.1, negatives: 1,
  l2: 1e-4, clipNorm: 1, serverLearningRate: 2, rowNormalize: true, evalEvery: 1, trainer: 'tfjs',
  model: 'sasrec', sequence: { maxLen: 6, blocks: 1, heads: 2, dropout: 0.2 },
};
const metricsOnly = (r: Awaited<ReturnType<typeof runInProcessSimulation>>) => ({
  rounds: r.rounds.map(({ seconds: _s, ...m }) => m),
  evaluations: r.evaluations,
});

before(async () => {
  await useNodeBackend('wasm');
});

test('in-process sasrec: deterministic for a seed, produces metrics, and moves the model', async () => {
  const a = await runInProcessSimulation(dataset, split, cfg);
  const b = await runInProcessSimulation(dataset, split, cfg);
  assert.deepEqual(metricsOnly(a), metricsOnly(b));
  assert.deepEqual(a.globals, b.globals);
  assert.equal(a.rounds.length, 2);
  assert.deepEqual(a.evaluations.map((e) => e.round), [0, 1, 2]);
  for (const e of a.evaluations) {
    for (const v of [e.sampled.hr10, e.sampled.ndcg10, e.full.hr10, e.full.ndcg10]) assert.ok(Number.isFinite(v) && v >= 0 && v <= 1);
    assert.ok(e.users > 0);
  }
  assert.ok(a.rounds.every((r) => r.clients === 15 && r.bytesUploaded > 0 && Number.isFinite(r.trainLoss) && r.trainLoss > 0));
  assert.ok(a.globals.positionEmbedding && a.globals['block0.query.kernel']);
  const c = await runInProcessSimulation(dataset, split, { ...cfg, seed: 3 });
  assert.notDeepEqual(metricsOnly(c).rounds, metricsOnly(a).rounds);
});

test('centralized sasrec: deterministic for a seed, produces metrics', async () => {
  const cc = { dim: 8, seed: 2, epochs: 2, batchSize: 4, learningRate: 0.1, negatives: 1, l2: 1e-4, evalEvery: 1, model: 'sasrec' as const, sequence: cfg.sequence };
  const a = await trainCentralizedSequence(dataset.numItems, split, cc);
  const b = await trainCentralizedSequence(dataset.numItems, split, cc);
  assert.deepEqual(a.evaluations, b.evaluations);
  assert.deepEqual(a.epochs.map((e) => e.trainLoss), b.epochs.map((e) => e.trainLoss));
  assert.equal(a.evaluations.length, 3);
  assert.ok(a.epochs.every((e) => Number.isFinite(e.trainLoss) && e.trainLoss > 0));
});

test('in-process sasrec with FedAdam: deterministic, differs from sgd, reports validation metrics', async () => {
  const adam = { ...cfg, rounds: 1, serverOptimizer: 'adam' as const, serverLearningRate: 0.01 };
  const a = await runInProcessSimulation(dataset, split, adam);
  const b = await runInProcessSimulation(dataset, split, adam);
  assert.deepEqual(a.globals, b.globals);
  const s = await runInProcessSimulation(dataset, split, { ...cfg, rounds: 1 });
  assert.notDeepEqual(a.globals, s.globals);
  assert.ok(a.evaluations.every((e) => e.validation && e.validation.users > 0));
});

test('centralized sasrec with Adam: deterministic, learns, differs from SGD', async () => {
  const cc = { dim: 8, seed: 2, epochs: 2, batchSize: 4, learningRate: 0.01, negatives: 1, l2: 1e-4, evalEvery: 1, model: 'sasrec' as const, sequence: cfg.sequence, optimizer: 'adam' as const };
  const a = await trainCentralizedSequence(dataset.numItems, split, cc);
  const b = await trainCentralizedSequence(dataset.numItems, split, cc);
  assert.deepEqual(a.evaluations, b.evaluations);
  assert.ok(a.epochs.every((e) => Number.isFinite(e.trainLoss) && e.trainLoss > 0));
  assert.ok(a.epochs[1].trainLoss < a.epochs[0].trainLoss, `loss ${a.epochs[0].trainLoss} → ${a.epochs[1].trainLoss}`);
  const s = await trainCentralizedSequence(dataset.numItems, split, { ...cc, optimizer: 'sgd' });
  assert.notDeepEqual(s.epochs.map((e) => e.trainLoss), a.epochs.map((e) => e.trainLoss));
});
