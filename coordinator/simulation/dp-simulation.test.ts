import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { createServerOptimizer } from '../../shared/aggregate/server-optimizer.ts';
import { RoundAggregation } from '../../shared/aggregate/round-aggregation.ts';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { FlockError } from '../../shared/errors.ts';
import { createEmbeddingModel, type PairBatch } from '../../shared/model/embedding-model.ts';
import { initParams } from '../../shared/model/init-params.ts';
import type { RecommenderModel } from '../../shared/model/recommender-model.ts';
import { defaultDelta } from '../../shared/privacy/dp-plan.ts';
import { epsilonForNoise, noiseMultiplierForEpsilon } from '../../shared/privacy/noise-for-epsilon.ts';
import { deriveSeed, hashString, SeededRandom } from '../../shared/random/seeded-random.ts';
import { trainMfLocally } from '../../shared/train/mf-typed-array-training.ts';
import { clipRowSparseToL2 } from '../../shared/update/row-sparse-clip.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { checkSimulationDp, SimulationDpRounds } from './dp-simulation.ts';
import { poissonSample } from '../rounds/sample-participants.ts';
import { runFederatedExperiment } from './experiments.ts';
import { fleetClientId } from './federated-rounds.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { reportCsv } from './research-report.ts';
import { researchSplit } from './simulation-data.ts';
import { runFlockCli } from '../testing/run-flock-cli.ts';

const dataset = generateSyntheticDataset({ users: 120, items: 80, seed: 5, meanInteractionsPerUser: 12 });
const split = researchSplit(dataset);
const N = 120; // every synthetic user has training data: the population
const plain: SimulationConfig = {
  dim: 8, seed: 3, rounds: 4, clientsPerRound: 0.5, localEpochs: 1, batchSize: 8, learningRate: 0.3, negatives: 3,
  l2: 1e-3, clipNorm: 0.5, serverLearningRate: 2, rowNormalize: true, evalEvery: 0, trainer: 'typed-array',
};
/** The aggregation DP needs. */
const dpAgg = { combine: { kind: 'mean' }, weighting: { kind: 'uniform' }, rowNormalize: false } as const;
const withDp = (dp: SimulationConfig['dp'], over: Partial<SimulationConfig> = {}): SimulationConfig => ({ ...plain, ...dpAgg, dp, ...over });

before(async () => {
  await useNodeBackend('wasm');
});

test('under DP the rounds compose in the accountant: ε per round = epsilonForNoise(q, z, rounds so far, δ), growing, and the plan is in the result', async () => {
  const z = 1.3;
  const r = await runInProcessSimulation(dataset, split, withDp({ noiseMultiplier: z }));
  const delta = defaultDelta(N);
  assert.equal(r.privacy?.plan.samplingRate, 0.5);
  assert.equal(r.privacy?.plan.expectedCohort, 60);
  assert.equal(r.privacy?.plan.delta, delta);
  let last = 0;
  for (const m of r.rounds) {
    const expected = epsilonForNoise({ q: 0.5, noiseMultiplier: z, steps: m.round, delta, conversion: r.privacy!.plan.conversion });
    assert.ok(Math.abs(m.epsilon! - expected) <= 1e-9 * expected, `round ${m.round}: ${m.epsilon} vs ${expected}`);
    assert.ok(m.epsilon! > last, 'ε grows every round');
    last = m.epsilon!;
    assert.equal(m.delta, delta);
    assert.equal(m.noiseMultiplier, z);
    assert.equal(m.clipNorm, plain.clipNorm);
    assert.ok(Math.abs(m.noiseStd! - (z * plain.clipNorm) / 60) < 1e-12, 'noise std = z·C/m');
  }
  assert.equal(r.privacy?.spent.epsilon, last);
  assert.equal(r.privacy?.spent.rounds, plain.rounds);
  // The budget of a --dp-noise run is exactly what its rounds cost.
  assert.ok(Math.abs(r.privacy!.plan.epsilonBudget - last) <= 1e-9 * last);
});

test('--target-epsilon: z comes from the accountant for q and the round budget, and the run spends at most ε (δ as given)', async () => {
  const r = await runInProcessSimulation(dataset, split, withDp({ targetEpsilon: 3, delta: 1e-5 }, { rounds: 3 }));
  const z = noiseMultiplierForEpsilon({ q: 0.5, targetEpsilon: 3, steps: 3, delta: 1e-5, conversion: r.privacy!.plan.conversion });
  assert.equal(r.privacy?.plan.noiseMultiplier, z);
  const spent = r.rounds[r.rounds.length - 1].epsilon!;
  assert.ok(spent <= 3 * (1 + 1e-9) && spent > 2.9, `spent ε ${spent}`);
  assert.ok(r.rounds.every((m) => m.delta === 1e-5));
});

test('a DP round is the coordinator\'s DP-FedAvg: Poisson cohort, clients clipped to C, RoundAggregation with the noise stage (seeded per round), server step', async () => {
  const cfg = withDp({ noiseMultiplier: 0.8 }, { rounds: 1, serverOptimizer: 'sgd' });
  // The JS fused kernel: bit-identical to trainMfLocally below (the default wasm kernel is within float32 rounding).
  const sim = await runInProcessSimulation(dataset, split, cfg, {}, undefined, 'js');

  const model = createEmbeddingModel({ numItems: dataset.numItems, dim: cfg.dim }) as RecommenderModel<PairBatch>;
  const base = initParams(model.spec, 'global', cfg.seed);
  const eligible = [...Array(split.train.length).keys()].filter((u) => split.train[u].length > 0);
  const rounds = SimulationDpRounds.create(cfg.dp!, { ...dpAgg, clipNorm: cfg.clipNorm }, cfg.seed, { population: eligible.length, clientsPerRound: 0.5, rounds: 1 });
  const selected = rounds.sample(1, eligible);
  assert.notEqual(selected.length, 60, 'this seed draws a cohort other than q·N (Poisson, not fixed-size)');
  const agg = new RoundAggregation(model.spec, { ...dpAgg, clipNorm: cfg.clipNorm }, { maxUpdates: selected.length, dp: rounds.roundDp(1) });
  for (const u of selected) {
    const pSeed = hashString(fleetClientId(cfg.seed, u));
    const locals = initParams(model.spec, 'local', pSeed);
    const res = trainMfLocally(model, cfg.dim, base as never, locals.userEmbedding, split.train[u], { ...cfg }, deriveSeed(deriveSeed(cfg.seed, 1, 1), 1, pSeed));
    const clip = clipRowSparseToL2({ itemEmbedding: { rows: res.delta.rows, data: res.delta.itemEmbedding }, itemBias: { rows: res.delta.rows, data: res.delta.itemBias } }, cfg.clipNorm);
    agg.addDelta(clip.tensors, res.numExamples, clip.preClipNorm);
  }
  const expected = createServerOptimizer({ kind: 'sgd', learningRate: cfg.serverLearningRate }).step(base, agg.result());
  assert.equal(sim.rounds[0].clients, selected.length);
  assert.deepEqual(sim.globals.itemEmbedding, expected.itemEmbedding);
  assert.deepEqual(sim.globals.itemBias, expected.itemBias);
});

test('Poisson sampling: cohort sizes vary, with mean q·N and variance q(1−q)·N', () => {
  const eligible = [...Array(200).keys()];
  const q = 0.3;
  const sizes = Array.from({ length: 2000 }, (_, r) => poissonSample(eligible, q, new SeededRandom(deriveSeed(9, r))).length);
  const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
  const variance = sizes.reduce((a, b) => a + (b - mean) ** 2, 0) / (sizes.length - 1);
  assert.ok(Math.abs(mean - q * 200) < 1, `mean ${mean}`); // standard error ≈ 0.14
  assert.ok(Math.abs(variance / (q * (1 - q) * 200) - 1) < 0.15, `variance ${variance}`);
  assert.ok(new Set(sizes).size > 10);
  assert.deepEqual(poissonSample(eligible, 1, new SeededRandom(5)), eligible, 'q = 1: everyone');
  // Members are independent draws: each client's inclusion rate is q.
  const hits = new Float64Array(200);
  for (let r = 0; r < 2000; r++) for (const u of poissonSample(eligible, q, new SeededRandom(deriveSeed(9, r)))) hits[u]++;
  assert.ok(hits.every((h) => Math.abs(h / 2000 - q) < 0.06));
});

test('under DP the simulation\'s cohorts vary round to round around q·N', async () => {
  const r = await runInProcessSimulation(dataset, split, withDp({ noiseMultiplier: 1 }, { rounds: 8 }));
  const sizes = r.rounds.map((m) => m.clients);
  assert.ok(new Set(sizes).size > 1, `sizes ${sizes}`);
  const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
  assert.ok(Math.abs(mean - 60) < 8, `mean ${mean}`); // standard error ≈ 1.9
  assert.equal(r.privacy?.meanCohort, mean);
});

test('an empty Poisson cohort still releases the noise (and is charged)', async () => {
  const q = 1 / N; // m = 1, the smallest cohort a plan accepts; P(nobody) = (1 − 1/N)^N ≈ 0.37
  const cfg = withDp({ noiseMultiplier: 2 }, { rounds: 1, clientsPerRound: q });
  const r = await runInProcessSimulation(dataset, split, cfg);
  assert.equal(r.rounds[0].clients, 0, 'this seed samples nobody in round 1');
  assert.equal(r.privacy?.spent.rounds, 1);
  // The server step moved every coordinate by lr × N(0, (zC/m)²): the noise alone, at its std.
  const init = initParams(createEmbeddingModel({ numItems: dataset.numItems, dim: plain.dim }).spec, 'global', plain.seed);
  const moved = Array.from(r.globals.itemEmbedding, (x, i) => x - init.itemEmbedding[i]);
  const std = Math.sqrt(moved.reduce((a, b) => a + b * b, 0) / moved.length);
  const expected = (cfg.serverLearningRate * 2 * cfg.clipNorm) / (q * N);
  assert.ok(Math.abs(std / expected - 1) < 0.1, `std ${std} vs ${expected}`);
});

test('adaptive clipping: the clients clip to the round\'s C, which follows C·exp(−η(b̃ − γ))', async () => {
  const adaptive = { targetQuantile: 0.5, learningRate: 0.2 };
  const r = await runInProcessSimulation(dataset, split, withDp({ noiseMultiplier: 1, adaptiveClip: adaptive }, { rounds: 5, clipNorm: 5 }));
  assert.equal(r.rounds[0].clipNorm, 5);
  for (let i = 1; i < r.rounds.length; i++) {
    const prev = r.rounds[i - 1];
    const expected = prev.clipNorm! * Math.exp(-0.2 * (prev.noisedFractionBelow! - 0.5));
    assert.ok(Math.abs(r.rounds[i].clipNorm! - expected) < 1e-9 * expected, `round ${i + 1}`);
  }
  // With C far above every norm, every update is below it: C shrinks.
  assert.ok(r.rounds[4].clipNorm! < 5);
});

test('refusals: combine rules, weightings and row normalisation DP cannot account for, both or neither of z and ε, attacks, adaptive clipping on workers', async () => {
  const agg = { ...dpAgg, clipNorm: 1 };
  const bad = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof FlockError && e.code === 'bad-config' && re.test(e.message));
  bad(() => checkSimulationDp({ ...agg, combine: { kind: 'centered-clipping' } }, { noiseMultiplier: 1 }), /combine mean/);
  bad(() => checkSimulationDp({ ...agg, combine: { kind: 'median' } }, { noiseMultiplier: 1 }), /combine mean/);
  bad(() => checkSimulationDp({ ...agg, weighting: { kind: 'examples-capped', cap: 8 } }, { noiseMultiplier: 1 }), /weighting uniform/);
  bad(() => checkSimulationDp({ ...agg, rowNormalize: true }, { noiseMultiplier: 1 }), /row normalisation off/);
  bad(() => checkSimulationDp(agg, { noiseMultiplier: 1, targetEpsilon: 2 }), /exactly one/);
  bad(() => checkSimulationDp(agg, {}), /exactly one/);
  bad(() => checkSimulationDp(agg, { noiseMultiplier: 1 }, { attack: true }), /--attack/);
  bad(() => checkSimulationDp(agg, { noiseMultiplier: 1, adaptiveClip: { targetQuantile: 0.5, learningRate: 0.2 } }, { workers: 2 }), /--workers 1/);
  // …and the run refuses before training anything.
  await assert.rejects(runInProcessSimulation(dataset, split, { ...plain, dp: { noiseMultiplier: 1 } }), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
});

test('without DP nothing changes: fixed-size cohorts, no privacy columns, no privacy in the result', async () => {
  // The JS fused kernel, whose training is bit for bit that of a0062dd (the digests below).
  const r = await runInProcessSimulation(dataset, split, plain, {}, undefined, 'js');
  assert.ok(r.rounds.every((m) => m.clients === 60));
  // Bit for bit the model the simulation trained before DP existed (recorded at a0062dd,
  // the last commit without it, for this data set and config): sampling, training and
  // aggregation untouched. An intended change to training must update these digests.
  const digest = (g: Record<string, Float32Array>) => {
    const h = createHash('sha256');
    for (const k of Object.keys(g).sort()) h.update(new Uint8Array(g[k].buffer, g[k].byteOffset, g[k].byteLength));
    return h.digest('hex').slice(0, 16);
  };
  assert.equal(digest(r.globals), '5f106988e7cb6936');
  assert.equal(digest((await runInProcessSimulation(dataset, split, { ...plain, ...dpAgg }, {}, undefined, 'js')).globals), 'f3fba8161a209bfa');
  assert.deepEqual(Object.keys(r.rounds[0]), ['round', 'clients', 'trainLoss', 'meanPreClipNorm', 'fractionClipped', 'bytesUploaded', 'seconds']);
  assert.equal(r.privacy, undefined);
  // Scoring the test item both ways changes no training and no top-level metric.
  const both = await runInProcessSimulation(dataset, split, { ...plain, bothTestHistories: true, evalEvery: 2 });
  const one = await runInProcessSimulation(dataset, split, { ...plain, evalEvery: 2 });
  const other = await runInProcessSimulation(dataset, split, { ...plain, evalEvery: 2, testHistory: 'train' });
  assert.deepEqual(both.globals, one.globals);
  for (const [i, p] of both.evaluations.entries()) {
    const { testByHistory, ...top } = p;
    assert.deepEqual(top, one.evaluations[i]);
    assert.deepEqual(testByHistory?.['train+validation'], { sampled: one.evaluations[i].sampled, full: one.evaluations[i].full, users: one.evaluations[i].users });
    assert.deepEqual(testByHistory?.train, { sampled: other.evaluations[i].sampled, full: other.evaluations[i].full, users: other.evaluations[i].users });
  }
});

test('report.json records the plan and per-round ε, δ, z, C, noise std; rounds.csv gets an epsilon column', async () => {
  const source = { kind: 'synthetic' as const, users: 120, items: 80, seed: 5 };
  const report = await runFederatedExperiment({ source, dataset: generateSyntheticDataset(source), centralizedEpochs: 0, sim: withDp({ noiseMultiplier: 1.1 }, { rounds: 2 }) });
  assert.ok(report.privacy && report.privacy.spent.rounds === 2);
  assert.deepEqual(Object.keys(report.rounds[0]).slice(-5), ['epsilon', 'delta', 'noiseMultiplier', 'clipNorm', 'noiseStd']);
  const csv = reportCsv(report).trim().split('\n');
  const header = csv[0].split(',');
  const col = header.indexOf('epsilon');
  assert.ok(col >= 0);
  assert.equal(Number(csv[csv.length - 1].split(',')[col]), report.privacy.spent.epsilon);
  const plainReport = await runFederatedExperiment({ source, dataset: generateSyntheticDataset(source), centralizedEpochs: 0, sim: { ...plain, rounds: 1 } });
  assert.ok(!reportCsv(plainReport).split('\n')[0].includes('epsilon'));
  assert.equal(plainReport.privacy, undefined);
});

const flock = runFlockCli;

test('flock simulate: DP switches the default combine to mean and says so, prints the final ε; refuses an explicit incompatible rule', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flock-dp-'));
  try {
    const common = ['simulate', '--synthetic', '60,40,3', '--rounds', '2', '--clients-per-round', '0.5', '--dim', '4', '--eval-every', '0', '--centralized-epochs', '0', '--out', dir];
    const ok = await flock(...common, '--dp-noise', '1.5');
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /combine switched from the default centered-clipping\S* to mean/);
    assert.match(ok.out, /row normalisation off/);
    assert.match(ok.out, /privacy: ε = \d+\.\d{3} spent over 2 rounds/);
    const json = JSON.parse(await readFile(path.join(dir, 'report.json'), 'utf8'));
    assert.equal(json.config.combine.kind, 'mean');
    assert.equal(json.config.rowNormalize, false);
    assert.ok(json.rounds[1].epsilon > json.rounds[0].epsilon);
    const refused = await flock(...common, '--dp-noise', '1.5', '--combine', 'median');
    assert.notEqual(refused.code, 0);
    assert.match(refused.out, /--combine median cannot be used with differential privacy.*\[bad-config\]/);
    const both = await flock(...common, '--dp-noise', '1.5', '--target-epsilon', '2');
    assert.notEqual(both.code, 0);
    assert.match(both.out, /either --dp-noise z or --target-epsilon ε, not both/);
    const lonely = await flock(...common, '--delta', '1e-5');
    assert.notEqual(lonely.code, 0);
    assert.match(lonely.out, /add --dp-noise z or --target-epsilon ε/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
