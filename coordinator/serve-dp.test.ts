/**
 * `flock serve` with differential privacy: the settings DP needs are applied (and said),
 * an explicit conflicting choice is refused naming its flag, impossible plans are refused
 * before anything starts, and the CLI speaks the same rules.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { FlockError } from '../shared/errors.ts';
import { defaultDelta } from '../shared/privacy/dp-plan.ts';
import { applyDp, DEFAULT_SERVE_CONFIG, planServeDp, type ServeConfig, type ServeDpSettings } from './serve-config.ts';
import { startCoordinator } from './server.ts';

const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

const base: ServeConfig = { ...DEFAULT_SERVE_CONFIG, clientsPerRound: 0.1 };
const dp: ServeDpSettings = { noiseMultiplier: 1.1, rounds: 50, population: 1000 };
const refused = (re: RegExp) => (e: unknown) => e instanceof FlockError && e.code === 'bad-config' && re.test(e.message);

test('applyDp: the defaults are replaced by what DP-FedAvg needs, each change said', () => {
  assert.equal(base.combine.kind, 'centered-clipping', 'the serve default');
  const { config, notes } = applyDp(base, dp);
  assert.deepEqual(config.combine, { kind: 'mean' });
  assert.deepEqual(config.weighting, { kind: 'uniform' });
  assert.equal(config.rowNormalize, false);
  assert.equal(notes.length, 3);
  assert.match(notes[0], /combine 'mean' instead of the default 'centered-clipping'/);
  assert.match(notes[1], /row normalisation off/);
  assert.match(notes[2], /Poisson-sampled with probability q = --clients-per-round 0.1 each \(no over-selection/);
  const plan = planServeDp(config)!.plan;
  assert.equal(plan.samplingRate, 0.1);
  assert.equal(plan.expectedCohort, 100);
  assert.equal(plan.delta, defaultDelta(1000));
  assert.equal(plan.rounds, 50);
  assert.equal(plan.noiseMultiplier, 1.1);
  assert.ok(plan.epsilonBudget > 0);
  // Explicitly asking for what DP needs is fine.
  assert.doesNotThrow(() => applyDp({ ...base, combine: { kind: 'mean' } }, dp, { combine: true, weighting: true }));
});

test('applyDp: an explicit robust combine rule or weighting is refused, naming the flag', () => {
  assert.throws(() => applyDp({ ...base, combine: { kind: 'median' } }, dp, { combine: true }), refused(/--combine median cannot be used with differential privacy/));
  assert.throws(() => applyDp({ ...base, combine: { kind: 'trimmed-mean', trim: 0.1 } }, dp, { combine: true }), refused(/--combine trimmed-mean:0\.1/));
  assert.throws(() => applyDp({ ...base, weighting: { kind: 'examples-capped', cap: 64 } }, dp, { weighting: true }), refused(/--weighting examples-capped:64 cannot be used with differential privacy/));
  // A config that bypasses applyDp is refused when the coordinator plans DP.
  assert.throws(() => planServeDp({ ...base, dp }), refused(/needs --combine mean/));
});

test('applyDp: impossible plans are refused before anything starts, with the flags to change', () => {
  assert.throws(() => applyDp(base, { ...dp, population: 0 }), refused(/--dp-population must be a positive integer/));
  assert.throws(() => applyDp(base, { ...dp, population: 12.5 }), refused(/--dp-population/));
  assert.throws(() => applyDp(base, { ...dp, rounds: 0 }), refused(/--dp-rounds must be a positive integer/));
  assert.throws(() => applyDp(base, { ...dp, delta: 1 }), refused(/--delta must be in \(0, 1\)/));
  assert.throws(() => applyDp(base, { ...dp, noiseMultiplier: -1 }), refused(/noise multiplier/));
  assert.throws(() => applyDp(base, { rounds: 50, population: 1000 }), refused(/exactly one of/));
  assert.throws(() => applyDp(base, { ...dp, targetEpsilon: 1 }), refused(/exactly one of/));
  assert.throws(() => applyDp({ ...base, clientsPerRound: 1.5 }, dp), refused(/--clients-per-round is the Poisson sampling rate/));
  // Adaptive clipping needs z < 2σ_b = m/10: with m = 100, z = 11 cannot be split.
  assert.throws(() => applyDp(base, { ...dp, noiseMultiplier: 11, adaptiveClip: { targetQuantile: 0.5 } }), refused(/--adaptive-clip .*too small for count noise/));
  assert.doesNotThrow(() => applyDp(base, { ...dp, noiseMultiplier: 9, adaptiveClip: { targetQuantile: 0.5 } }));
  assert.throws(() => applyDp(base, { ...dp, adaptiveClip: { targetQuantile: 1 } }), refused(/--adaptive-clip quantile must be in \(0, 1\)/));
  // An ε no noise can certify at this δ on the accountant's orders.
  assert.throws(() => applyDp(base, { targetEpsilon: 0.01, delta: 1e-12, rounds: 50, population: 1000 }), refused(/--target-epsilon 0\.01 with --dp-rounds 50, --clients-per-round 0\.1 and --dp-population 1000: target ε 0\.01 at δ=1e-12 needs a noise multiplier above/));
});

test('startCoordinator refuses a DP config that was not prepared with applyDp, and writes nothing', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'flock-serve-dp-'));
  roots.push(dir);
  const config: ServeConfig = { ...base, dp, models: ['mf'], port: 0, dataDir: dir, dim: 4, staticDir: path.join(dir, 'none') };
  await assert.rejects(startCoordinator(config, pino({ level: 'silent' })), refused(/needs --combine mean/));
  assert.deepEqual((await readdir(dir)).filter((n) => n === 'mf'), []);
});

test('flock serve: the DP flags (refusals exit 1 with the reason; no coordinator starts)', { timeout: 120_000 }, () => {
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'cli.ts'), 'serve', '--port', '0', '--data-dir', path.join(tmpdir(), 'flock-never-created'), ...args], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, err: r.stderr };
  };
  const robust = cli('--dp-noise', '1', '--dp-population', '1000', '--clients-per-round', '0.1', '--combine', 'median');
  assert.equal(robust.status, 1);
  assert.match(robust.err, /--combine median cannot be used with differential privacy.*\[bad-config\]/s);
  const noPopulation = cli('--dp-noise', '1');
  assert.equal(noPopulation.status, 1);
  assert.match(noPopulation.err, /differential privacy needs --dp-population N/);
  const stray = cli('--delta', '1e-6', '--adaptive-clip');
  assert.equal(stray.status, 1);
  assert.match(stray.err, /--delta, --adaptive-clip only mean something with differential privacy/);
  const both = cli('--dp-noise', '1', '--target-epsilon', '2', '--dp-population', '10');
  assert.equal(both.status, 1);
  assert.match(both.err, /either --dp-noise z or --target-epsilon ε, not both/);
});
