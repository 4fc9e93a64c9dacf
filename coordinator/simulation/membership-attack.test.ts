import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import { attackRound, attackRows, membershipTruth, popularityBins, trainPopularity, type MembershipAttackOptions, type MembershipRow } from './membership-attack.ts';
import { runAttackedRound } from './membership-attack-round.ts';
import { cohortsOf, type CoordinatorView } from './membership-attack-views.ts';
import { researchSplit } from './simulation-data.ts';
import type { SimulationConfig } from './simulation-config.ts';

const dataset = generateSyntheticDataset({ users: 240, items: 150, seed: 3 });
const split = researchSplit(dataset);
const sim: SimulationConfig = {
  dim: 8, seed: 2, rounds: 2, clientsPerRound: 1, localEpochs: 1, batchSize: 32, learningRate: 0.5, negatives: 4, l2: 1e-4,
  clipNorm: 1, serverLearningRate: 1, rowNormalize: true, evalEvery: 0, trainer: 'typed-array',
};
const opts: MembershipAttackOptions = { sim, cohorts: [10, 'all'], epsilons: [8], dpRounds: 100 };
const captured = runAttackedRound(dataset, split, sim);
const row = (rows: readonly MembershipRow[], setting: string, score: string, cohort: number | null = null) =>
  rows.find((r) => r.setting === setting && r.score === score && r.cohort === cohort && (setting !== 'dp-release' || r.epsilon === 8))!;

test('plain updates: the signed bias score separates members from every non-interacted item (AUC ≈ 1); the row norm finds every touched row', async () => {
  const round = await captured;
  assert.equal(round.updates.length, 240);
  const res = attackRound(dataset, split, round, opts);
  const bias = row(res.rows, 'plain', 'bias');
  assert.ok(bias.aucNonInteracted.mean > 0.99, `plain bias AUC ${bias.aucNonInteracted.mean}`);
  assert.ok(bias.best);
  assert.ok(row(res.rows, 'plain', 'row-norm').aucUntouched.mean > 0.999);
  // DP without secure aggregation: the coordinator reads the same individual updates.
  assert.deepEqual(row(res.rows, 'dp-no-secagg', 'bias').aucNonInteracted, bias.aucNonInteracted);
  // The whole round's sum tells a person's items apart little beyond popularity.
  const secAll = row(res.rows, 'secure-aggregation', 'bias', 240);
  assert.ok(secAll.aucStratified.mean < 0.65, `secure aggregation (n = 240) stratified AUC ${secAll.aucStratified.mean}`);
  assert.ok(row(res.rows, 'secure-aggregation', 'bias', 10).aucStratified.mean < bias.aucStratified.mean - 0.2);
  assert.equal(row(res.rows, 'dp-release', 'bias', 10).people, 240);
});

test('random-score control: a view of random numbers gives AUC ≈ 0.5 in every column', async () => {
  const round = await captured;
  const { numItems } = dataset;
  const truths = round.updates.map((u) => membershipTruth(split, u.user, numItems));
  const popularity = trainPopularity(split, numItems);
  const rng = new SeededRandom(11);
  const random = () => Float32Array.from({ length: numItems }, () => rng.normal());
  const view: CoordinatorView = { cohortSizes: round.updates.map(() => 1), viewOf: () => ({ itemEmbedding: new Float32Array(numItems * sim.dim), itemBias: random() }) };
  const [r] = attackRows({ setting: 'control', receives: 'random', cohort: null, epsilon: null, noiseMultiplier: null }, view, round.updates, truths, popularityBins(popularity, 20), numItems, sim.dim, ['bias'], popularity);
  for (const auc of [r.aucNonInteracted, r.aucUntouched, r.aucStratified]) assert.ok(Math.abs(auc.mean - 0.5) < 0.03, `control AUC ${auc.mean}`);
});

test('cohorts: a seeded partition of every update, a short remainder joins the last cohort', () => {
  const c = cohortsOf(23, 10, 5);
  assert.deepEqual(c.map((x) => x.length), [10, 13]);
  assert.deepEqual(c.flat().sort((a, b) => a - b), [...Array(23).keys()]);
  assert.throws(() => cohortsOf(5, 10, 1), /at least 10/);
});
