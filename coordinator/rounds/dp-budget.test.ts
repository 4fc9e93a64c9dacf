/**
 * The privacy budget of a served model, over real sockets and real files:
 *
 * - enforced: the coordinator releases rounds until the next one would exceed the budget,
 *   then opens no more (one warning), keeps serving the last model, says `exhausted` on
 *   /api/models/:kind and in /metrics, and the spent ε never exceeds the budget;
 * - persistent: spent ε, rounds and the adaptive clip bound are the same after a restart
 *   on the same data dir; a larger round budget lets training go on from there, never
 *   from ε = 0;
 * - refused where it cannot be known: DP on a data dir trained without DP, a damaged
 *   privacy record, a damaged newer version without one. DP off on a DP data dir: a warning.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import pino from 'pino';
import { FlockError } from '../../shared/errors.ts';
import { planDp } from '../../shared/privacy/dp-plan.ts';
import { ModelInfoResponseSchema, type ModelPrivacy } from '../../shared/protocol/messages.ts';
import { modelApiPath, weightsApiPath } from '../../shared/protocol/model-routes.ts';
import { decodeWeights } from '../../shared/update/tensor-codec.ts';
import { applyDp, DEFAULT_SERVE_CONFIG, type ServeConfig, type ServeDpSettings } from '../serve-config.ts';
import { startCoordinator, type RunningCoordinator } from '../server.ts';
import { flipLastByte } from '../store/store-test-fixtures.ts';
import { KnownUpdateBot } from '../testing/known-update-bot.ts';
import { waitFor } from '../testing/test-participant.ts';

const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});
async function tempRoot(): Promise<string> {
  const r = await mkdtemp(path.join(tmpdir(), 'flock-dp-budget-'));
  roots.push(r);
  return r;
}

function capture(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
  return { log: pino({ level: 'info' }, stream), lines };
}

const BOTS = 3;
const plainConfig = (dataDir: string): ServeConfig => ({
  ...DEFAULT_SERVE_CONFIG,
  models: ['mf'],
  port: 0,
  dataDir,
  dim: 4,
  minClients: BOTS,
  roundDelayMs: 5,
  roundIntervalMs: 0,
  staticDir: path.join(dataDir, 'none'),
  round: { ...DEFAULT_SERVE_CONFIG.round, clipNorm: 1 },
});
/** q = 1 (every bot in every round), a stated population of 30 (m = 30): σ_b = 1.5, so z = 1 splits. */
const dpSettings = (rounds: number, extra: Partial<ServeDpSettings> = {}): ServeDpSettings => ({ noiseMultiplier: 1, rounds, population: 30, adaptiveClip: { targetQuantile: 0.5 }, ...extra });
const dpConfig = (dataDir: string, dp: ServeDpSettings): ServeConfig => applyDp(plainConfig(dataDir), dp).config;

async function privacyOf(c: RunningCoordinator): Promise<ModelPrivacy> {
  const info = ModelInfoResponseSchema.parse(await (await fetch(`${c.url}${modelApiPath('mf')}`)).json());
  assert.ok(info.privacy, 'DP is on: privacy is stated');
  return info.privacy;
}

const joinBots = async (c: RunningCoordinator): Promise<KnownUpdateBot[]> => {
  const bots: KnownUpdateBot[] = [];
  // Every bot claims a norm above C: adaptive clipping raises C, so its persistence shows.
  for (let b = 0; b < BOTS; b++) bots.push(await KnownUpdateBot.join(c.url, 'mf', c.federations[0].spec, 50 + b, { scale: 0.5, claimedNorm: 2 }));
  return bots;
};

const refusalLine = 'privacy budget exhausted: no more rounds';

/** Runs until the budget refuses a round; returns the privacy stated then. */
async function trainUntilExhausted(c: RunningCoordinator, lines: string[]): Promise<{ privacy: ModelPrivacy; bots: KnownUpdateBot[] }> {
  const bots = await joinBots(c);
  await waitFor(() => lines.some((l) => l.includes(refusalLine)), 'the budget to refuse a round', 120_000);
  return { privacy: await privacyOf(c), bots };
}

test('DP budget: rounds stop exactly when the next would exceed it; exhausted on the API and /metrics; the model is still served; all of it survives restarts', { timeout: 240_000 }, async () => {
  const root = await tempRoot();
  const first = capture();
  const c1 = await startCoordinator(dpConfig(root, dpSettings(3)), first.log);
  const fresh = await privacyOf(c1);
  assert.equal(fresh.epsilon, 0);
  assert.equal(fresh.rounds, 0);
  assert.equal(fresh.exhausted, false);
  assert.equal(fresh.clipNorm, 1);
  assert.equal(fresh.adaptiveClipping, true);
  assert.equal(fresh.roundBudget, 3);
  assert.equal(fresh.population, 30);
  assert.equal(fresh.samplingRate, 1);
  assert.ok(first.lines.some((l) => l.includes('differential privacy on: DP-FedAvg')), 'the plan is logged at start');

  const { privacy: spent, bots } = await trainUntilExhausted(c1, first.lines);
  try {
    assert.equal(spent.rounds, 3, 'exactly the round budget was released');
    assert.equal(c1.federations[0].engine.currentVersion, 3, 'versions 1..3, one per released round');
    assert.equal(spent.version, 3);
    assert.equal(spent.exhausted, true);
    assert.ok(spent.epsilon > 0 && spent.epsilon <= spent.epsilonBudget * (1 + 1e-9), `spent ε ${spent.epsilon} ≤ budget ${spent.epsilonBudget}`);
    assert.notEqual(spent.clipNorm, 1, 'adaptive clipping moved the bound');
    // Every announced bound was the one of its round: the bots' updates were all accepted.
    assert.deepEqual(bots.flatMap((b) => b.rejections), []);
    // Said once, even though participants keep asking for rounds.
    bots[0].socket.emit('eligibility', { eligible: true });
    await waitFor(async () => (await privacyOf(c1)).exhausted, 'still exhausted');
    assert.equal(first.lines.filter((l) => l.includes(refusalLine)).length, 1);
    assert.equal(first.lines.filter((l) => l.includes('round aggregated; privacy spent')).length, 3, 'one line per released round with ε spent / budget');
    // The last model is still served.
    const latest = await fetch(`${c1.url}${weightsApiPath('mf', 'latest')}`);
    assert.equal(latest.status, 200);
    assert.equal(decodeWeights(new Uint8Array(await latest.arrayBuffer())).version, 3);
    const metrics = await (await fetch(`${c1.url}/metrics`)).text();
    for (const [name, value] of [['flock_dp_budget_exhausted', 1], ['flock_dp_rounds_spent', 3], ['flock_dp_round_budget', 3], ['flock_dp_epsilon_spent', spent.epsilon], ['flock_dp_epsilon_budget', spent.epsilonBudget], ['flock_dp_clip_norm', spent.clipNorm]] as const) {
      const m = new RegExp(`^${name}\\{model="mf"\\} (\\S+)$`, 'm').exec(metrics);
      assert.ok(m, `${name} in /metrics`);
      assert.ok(Math.abs(Number(m[1]) - value) <= 1e-9 * Math.max(1, Math.abs(value)), `${name} = ${m[1]}, expected ${value}`);
    }
    // Each version carries its record; the latest one the spent totals.
    const entries = c1.federations[0].store.entries();
    assert.deepEqual(entries.map((e) => e.privacy?.rounds), [0, 1, 2, 3]);
    assert.equal(entries.at(-1)?.privacy?.epsilon, spent.epsilon);
  } finally {
    for (const b of bots) b.close();
    await c1.close();
  }

  // Restart, same flags: the same figures, still exhausted, no round opens.
  const second = capture();
  const c2 = await startCoordinator(dpConfig(root, dpSettings(3)), second.log);
  try {
    assert.deepEqual(await privacyOf(c2), spent, 'ε, rounds, clip bound and exhaustion survive a restart');
    const bots2 = await joinBots(c2);
    await waitFor(() => second.lines.some((l) => l.includes(refusalLine)), 'the restarted coordinator refuses too');
    for (const b of bots2) b.close();
    assert.equal(c2.federations[0].engine.currentVersion, 3);
  } finally {
    await c2.close();
  }

  // A larger round budget: training resumes from the spent ε (never from 0) with the saved clip bound.
  const third = capture();
  const c3 = await startCoordinator(dpConfig(root, dpSettings(5)), third.log);
  try {
    const resumed = await privacyOf(c3);
    assert.equal(resumed.epsilon, spent.epsilon);
    assert.equal(resumed.rounds, 3);
    assert.equal(resumed.clipNorm, spent.clipNorm);
    assert.equal(resumed.exhausted, false);
    assert.ok(third.lines.some((l) => l.includes('the DP plan changed since the resumed version')), 'the changed plan is logged');
    const { privacy: more, bots: bots3 } = await trainUntilExhausted(c3, third.lines);
    for (const b of bots3) b.close();
    assert.equal(more.rounds, 5);
    assert.ok(more.epsilon > spent.epsilon && more.epsilon <= more.epsilonBudget * (1 + 1e-9));
    // The round after the restart announced the saved bound.
    assert.equal(bots3[0].announced.get(Math.min(...bots3[0].announced.keys())), spent.clipNorm);
  } finally {
    await c3.close();
  }
});

test('DP budget from --target-epsilon: the plan\'s z fits the round budget, and the coordinator releases exactly that many rounds', { timeout: 120_000 }, async () => {
  const root = await tempRoot();
  const dp: ServeDpSettings = { targetEpsilon: 8, rounds: 2, population: 30 };
  const plan = planDp({ targetEpsilon: 8, rounds: 2, samplingRate: 1, population: 30 });
  const log = capture();
  const c = await startCoordinator(dpConfig(root, dp), log.log);
  try {
    const p0 = await privacyOf(c);
    assert.equal(p0.noiseMultiplier, plan.noiseMultiplier);
    assert.equal(p0.epsilonBudget, 8);
    const { privacy, bots } = await trainUntilExhausted(c, log.lines);
    for (const b of bots) b.close();
    assert.equal(privacy.rounds, 2);
    assert.ok(privacy.epsilon <= 8 * (1 + 1e-9) && privacy.epsilon > 0, `ε ${privacy.epsilon} ≤ 8`);
  } finally {
    await c.close();
  }
});

test('DP refuses a data dir whose spent privacy cannot be known; DP off on a DP data dir only warns', { timeout: 180_000 }, async () => {
  const isCode = (code: string, re: RegExp) => (e: unknown) => e instanceof FlockError && e.code === code && re.test(e.message);

  // A data dir trained without DP: refused, and nothing in it changes.
  const plainRoot = await tempRoot();
  const p = await startCoordinator(plainConfig(plainRoot), pino({ level: 'silent' }));
  const plainBots = await joinBots(p);
  await waitFor(() => p.federations[0].engine.currentVersion >= 1, 'one plain round');
  for (const b of plainBots) b.close();
  await p.close();
  const before = (await readdir(path.join(plainRoot, 'mf', 'versions'))).sort();
  await assert.rejects(startCoordinator(dpConfig(plainRoot, dpSettings(3)), pino({ level: 'silent' })), isCode('bad-config', /trained without differential privacy .*fresh --data-dir/));
  assert.deepEqual((await readdir(path.join(plainRoot, 'mf', 'versions'))).sort(), before);

  // A DP data dir: two released rounds.
  const root = await tempRoot();
  const c = await startCoordinator(dpConfig(root, dpSettings(10)), pino({ level: 'silent' }));
  const bots = await joinBots(c);
  await waitFor(() => c.federations[0].engine.currentVersion >= 2, 'two DP rounds');
  for (const b of bots) b.close();
  await c.close();
  const newest = c.federations[0].engine.currentVersion;
  const file = (v: number, suffix: string) => path.join(root, 'mf', 'versions', `v${String(v).padStart(6, '0')}.${suffix}`);

  // DP off on it: starts, says so.
  const off = capture();
  const plain = await startCoordinator(plainConfig(root), off.log);
  assert.equal((await (await fetch(`${plain.url}${modelApiPath('mf')}`)).json()).privacy, null);
  await plain.close();
  assert.ok(off.lines.some((l) => l.includes('holds versions released under differential privacy, but DP is off')), off.lines.join(''));

  // The newest version's weights damaged: moved aside, the model resumes at the one before,
  // and its round stays spent (the budget resumes from its moved-aside record).
  const spent = await (async () => {
    const s = await startCoordinator(dpConfig(root, dpSettings(10)), pino({ level: 'silent' }));
    try {
      return await privacyOf(s);
    } finally {
      await s.close();
    }
  })();
  await flipLastByte(file(newest, 'flkw'));
  const lost = capture();
  const resumed = await startCoordinator(dpConfig(root, dpSettings(10)), lost.log);
  try {
    assert.equal(resumed.federations[0].engine.currentVersion, newest - 1);
    const pr = await privacyOf(resumed);
    assert.equal(pr.rounds, spent.rounds, 'the lost version\'s round is still counted');
    assert.equal(pr.epsilon, spent.epsilon);
    assert.ok(lost.lines.some((l) => l.includes('a newer version was moved aside as damaged')));
  } finally {
    await resumed.close();
  }

  // ...unless its privacy record is unreadable: then the spent privacy is unknown.
  const aside = (await readdir(path.join(root, 'mf', 'versions'))).find((n) => n.startsWith(`v${String(newest).padStart(6, '0')}.privacy.json.damaged-`))!;
  await flipLastByte(path.join(root, 'mf', 'versions', aside));
  await assert.rejects(startCoordinator(dpConfig(root, dpSettings(10)), pino({ level: 'silent' })), isCode('store-damaged', new RegExp(`version ${newest} was moved aside as damaged`)));
  await rm(path.join(root, 'mf', 'versions', aside));
  for (const n of await readdir(path.join(root, 'mf', 'versions'))) if (n.startsWith(`v${String(newest).padStart(6, '0')}.`)) await rm(path.join(root, 'mf', 'versions', n));

  // The resumed version's own record damaged: refused (never ε = 0), nothing moved.
  await flipLastByte(file(newest - 1, 'privacy.json'));
  await assert.rejects(startCoordinator(dpConfig(root, dpSettings(10)), pino({ level: 'silent' })), isCode('store-damaged', new RegExp(`privacy record of version ${newest - 1} .*never starts over at ε = 0`)));
  assert.ok((await readdir(path.join(root, 'mf', 'versions'))).includes(`v${String(newest - 1).padStart(6, '0')}.privacy.json`));
});
