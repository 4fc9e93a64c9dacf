import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { initParams } from '../../shared/model/init-params.ts';
import type { TrainConfig } from '../../shared/model/recommender-model.ts';
import { createSequenceModel, type SequenceBatch, type SequenceModelConfig } from '../../shared/model/sasrec-model.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import { trainLocally } from '../../shared/train/local-training.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { batchedTrainingExact, trainClientsBatched } from './sequence-batched-round.ts';
import { researchSplit } from './simulation-data.ts';

const dataset = generateSyntheticDataset({ users: 24, items: 40, seed: 4, meanInteractionsPerUser: 12 });
const split = researchSplit(dataset);
const users = [...split.train.keys()].filter((u) => split.train[u].length > 1);

before(async () => {
  await useNodeBackend('wasm');
});

/** max |batched − per-client| over a client's update, relative to its largest update entry; worst client. */
async function compare(cfg: SequenceModelConfig, train: TrainConfig): Promise<{ worst: number; steps: number[] }> {
  const model = createSequenceModel(cfg);
  const globals = initParams(model.spec, 'global', 3);
  const seeds = users.map((u) => 1000 + u);
  const clients = users.map((u, i) => {
    const rng = new SeededRandom(seeds[i]);
    const epochs: SequenceBatch[][] = [];
    for (let e = 0; e < train.localEpochs; e++) epochs.push(model.makeBatches(split.train[u], train, model.numItems, rng));
    return epochs;
  });
  const batched = await trainClientsBatched(cfg, globals, clients, train);
  let worst = 0;
  for (let i = 0; i < users.length; i++) {
    const ref = await trainLocally(model, globals, {}, split.train[users[i]], train, seeds[i]);
    const got = batched[i];
    assert.equal(got.numExamples, ref.numExamples);
    assert.equal(got.steps, ref.steps);
    assert.ok(Math.abs(got.loss - ref.loss) <= 1e-5 * Math.max(1, Math.abs(ref.loss)), `loss ${got.loss} vs ${ref.loss}`);
    // The whole update's scale: per-tensor ratios mean nothing for tensors whose true
    // gradient is 0 (the key bias: softmax ignores a shift shared by every key; its
    // "update" is ~1e-10 of round-off in both paths).
    let scale = 0;
    let diff = 0;
    for (const p of model.spec.params) {
      const base = globals[p.name];
      const a = ref.globals[p.name];
      const b = got.globals[p.name];
      for (let j = 0; j < a.length; j++) {
        scale = Math.max(scale, Math.abs(a[j] - base[j]));
        diff = Math.max(diff, Math.abs(a[j] - b[j]));
        // Item rows the client never touched stay exactly the globals in both.
        if (p.name === 'itemEmbedding' && a[j] === base[j]) assert.equal(b[j], base[j], `${p.name}[${j}] moved`);
      }
    }
    assert.ok(scale > 0);
    worst = Math.max(worst, diff / scale);
  }
  return { worst, steps: batched.map((r) => r.steps) };
}

const shape: SequenceModelConfig = { numItems: dataset.numItems, dim: 8, maxLen: 5, blocks: 2, heads: 2, dropout: 0.2 };
const base: TrainConfig = { localEpochs: 1, batchSize: 64, learningRate: 0.1, negatives: 2, l2: 1e-4 };

test('batched SASRec round: one local step per client equals trainLocally (dropout 0.2)', async () => {
  const { worst, steps } = await compare(shape, base);
  assert.ok(steps.every((s) => s === 1));
  console.log(`relative difference ${worst}`);
  assert.ok(worst <= 1e-5, `relative difference ${worst}`);
});

test('batched SASRec round: several local steps, unequal per client (2 epochs, small batches) equal trainLocally', async () => {
  const { worst, steps } = await compare(shape, { ...base, localEpochs: 2, batchSize: 1 });
  assert.ok(new Set(steps).size > 1 && Math.max(...steps) > 2, `steps ${steps}`);
  console.log(`relative difference ${worst}`);
  assert.ok(worst <= 1e-5, `relative difference ${worst}`);
});

test('batched SASRec round: no dropout, one head, one block', async () => {
  const { worst } = await compare({ ...shape, dropout: 0, heads: 1, blocks: 1 }, { ...base, localEpochs: 2, batchSize: 2, negatives: 1 });
  console.log(`relative difference ${worst}`);
  assert.ok(worst <= 1e-5, `relative difference ${worst}`);
});

test('batched SASRec round: exact only without gradient accumulation', () => {
  assert.equal(batchedTrainingExact(base), true);
  assert.equal(batchedTrainingExact({ ...base, accumulationSteps: 1 }), true);
  assert.equal(batchedTrainingExact({ ...base, accumulationSteps: 2 }), false);
});

test('in-process sasrec simulation: batched clients (default) give the per-client run within float tolerance', async () => {
  const { runInProcessSimulation } = await import('./in-process-simulation.ts');
  const sim = {
    dim: 8, seed: 2, rounds: 2, clientsPerRound: 0.5, localEpochs: 2, batchSize: 2, learningRate: 0.1, negatives: 1,
    l2: 1e-4, clipNorm: 1, serverLearningRate: 2, rowNormalize: true, evalEvery: 0, trainer: 'tfjs' as const,
    model: 'sasrec' as const, sequence: { maxLen: 5, blocks: 1, heads: 2, dropout: 0.2 },
  };
  const perClient = await runInProcessSimulation(dataset, split, { ...sim, sequence: { ...sim.sequence, batchClients: 1 } });
  const batched = await runInProcessSimulation(dataset, split, sim);
  assert.deepEqual(batched.rounds.map((r) => [r.clients, r.bytesUploaded]), perClient.rounds.map((r) => [r.clients, r.bytesUploaded]));
  let scale = 0;
  let diff = 0;
  for (const [name, a] of Object.entries(perClient.globals)) {
    const b = batched.globals[name];
    for (let j = 0; j < a.length; j++) {
      scale = Math.max(scale, Math.abs(a[j]));
      diff = Math.max(diff, Math.abs(a[j] - b[j]));
    }
  }
  assert.ok(diff <= 1e-5 * scale, `globals differ by ${diff} (scale ${scale})`);
});
