import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { aggregationSettingsFor, simulationAttackers } from './federated-rounds.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { researchSplit } from './simulation-data.ts';

// Small enough to run in about a second per simulation; learns visibly in 10 rounds.
const dataset = generateSyntheticDataset({ users: 200, items: 100, seed: 5, meanInteractionsPerUser: 20 });
const split = researchSplit(dataset);
const cfg: SimulationConfig = {
  dim: 8, seed: 3, rounds: 10, clientsPerRound: 1, localEpochs: 2, batchSize: 16, learningRate: 0.5, negatives: 4,
  l2: 0.01, clipNorm: 1, serverLearningRate: 10, rowNormalize: true, evalEvery: 0, trainer: 'typed-array',
};
const reverse10 = { kind: 'reverse', fraction: 0.1 } as const;
const last = (r: Awaited<ReturnType<typeof runInProcessSimulation>>) => r.evaluations[r.evaluations.length - 1].sampled;

test('with the default aggregation, 10 % of clients sending the reversed step and claiming 10⁷ examples barely move the model', async () => {
  const honest = await runInProcessSimulation(dataset, split, cfg);
  const attacked = await runInProcessSimulation(dataset, split, { ...cfg, attack: reverse10 });
  const start = honest.evaluations[0].sampled.hr10;
  const h = last(honest);
  const a = last(attacked);
  assert.ok(h.hr10 > start + 0.15, `the honest fleet learns (${start} → ${h.hr10})`);
  assert.ok(a.hr10 >= h.hr10 - 0.03, `HR@10 attacked ${a.hr10} vs honest ${h.hr10}`);
  assert.ok(a.ndcg10 >= h.ndcg10 - 0.03, `NDCG@10 attacked ${a.ndcg10} vs honest ${h.ndcg10}`);
});

test('weighting by the claim (the old pipeline) lets the same attackers wipe out what the fleet learned', async () => {
  const old: SimulationConfig = { ...cfg, weighting: { kind: 'examples-capped', cap: 1e7 } };
  const honest = await runInProcessSimulation(dataset, split, old);
  const attacked = await runInProcessSimulation(dataset, split, { ...old, attack: reverse10 });
  const start = honest.evaluations[0].sampled.hr10;
  assert.ok(last(honest).hr10 > start + 0.15);
  assert.ok(last(attacked).hr10 < start + 0.03, `HR@10 attacked ${last(attacked).hr10}, initial ${start}`);
});

test('attackers: a fixed seeded subset of the eligible clients; none without an attack; settings default to the coordinator\'s', () => {
  const eligible = [...Array(200).keys()];
  const a = simulationAttackers({ ...cfg, attack: reverse10 }, eligible);
  assert.equal(a.size, 20);
  assert.deepEqual([...a], [...simulationAttackers({ ...cfg, attack: reverse10 }, eligible)]);
  assert.equal(simulationAttackers(cfg, eligible).size, 0);
  assert.equal(simulationAttackers({ ...cfg, attack: { kind: 'noise', fraction: 0 } }, eligible).size, 0);
  const s = aggregationSettingsFor(cfg);
  assert.equal(s.clipNorm, 1);
  assert.equal(s.rowNormalize, true);
});

for (const kind of ['noise', 'scale'] as const) {
  test(`the '${kind}' attack runs through the same pipeline and is deterministic`, async () => {
    const c = { ...cfg, rounds: 2, attack: { kind, fraction: 0.2 } };
    const a = await runInProcessSimulation(dataset, split, c);
    const b = await runInProcessSimulation(dataset, split, c);
    assert.deepEqual(a.globals, b.globals);
    const honest = await runInProcessSimulation(dataset, split, { ...cfg, rounds: 2 });
    assert.notDeepEqual(a.globals, honest.globals);
  });
}
