/**
 * THE NOISE TEST (issue 9): a real coordinator with differential privacy, real sockets
 * and real files. Participants send KNOWN updates (each a fixed direction of its own at
 * half the announced clip bound); the server step is plain SGD with learning rate 1, so
 * new globals − old globals is exactly the released delta. Subtracting the exact mean of
 * what was accepted, Σ Δ_k / m, leaves the noise alone; over every coordinate of every
 * released round its standard deviation must be z_Δ·C / m, with m the plan's FIXED
 * denominator (q × population) — not the number of updates that arrived — and C the
 * clip bound of that round.
 *
 * Poisson sampling at q = 0.5 of 6 bots, stated population 16: m = 8 while 2–3 updates
 * arrive per round, so a coordinator dividing by the received count is off by ~3.6× and
 * fails. Under adaptive clipping (16 bots), noising with z instead of z_Δ is off by 22 %
 * and fails, and so is noising with the static --clip instead of the round's C. 6,800
 * coordinates per round × 6 rounds: the measured std is within ~1 % of the truth; the
 * test allows 4 %. (Each of those three mistakes was put in on purpose and failed here.)
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { updateNoiseMultiplier } from '../../shared/aggregate/adaptive-clipping.ts';
import { RoundRecordSchema, type RoundRecord } from '../../shared/protocol/messages.ts';
import { weightsApiPath } from '../../shared/protocol/model-routes.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { decodeWeights, fromWireTensors } from '../../shared/update/tensor-codec.ts';
import { applyDp, DEFAULT_SERVE_CONFIG, type ServeConfig, type ServeDpSettings } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { KnownUpdateBot } from '../testing/known-update-bot.ts';
import { waitFor } from '../testing/test-participant.ts';

interface NoiseRun {
  readonly measuredStd: number;
  readonly expectedStd: number;
  readonly meanResidual: number;
  readonly samples: number;
  readonly rounds: number;
  readonly clips: number[];
  readonly received: number[];
}

const RELEASES = 6;

/** Runs a DP coordinator with `bots` participants until RELEASES versions are out; measures the noise of each release, in units of its round's C. */
async function measureNoise(dp: ServeDpSettings, q: number, bots: number, claimedNorm: number): Promise<NoiseRun> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-dp-noise-'));
  const base: ServeConfig = {
    ...DEFAULT_SERVE_CONFIG,
    models: ['mf'],
    port: 0,
    dataDir,
    dim: 16,
    minClients: bots,
    roundDelayMs: 5,
    roundIntervalMs: 0,
    staticDir: path.join(dataDir, 'none'),
    clientsPerRound: q,
    serverOptimizer: { kind: 'sgd' },
    serverLearningRate: 1,
    round: { ...DEFAULT_SERVE_CONFIG.round, clipNorm: 1 },
  };
  const { config } = applyDp(base, dp);
  const c = await startCoordinator(config, pino({ level: 'silent' }));
  const f = c.federations[0];
  const fleet: KnownUpdateBot[] = [];
  try {
    for (let b = 0; b < bots; b++) fleet.push(await KnownUpdateBot.join(c.url, 'mf', f.spec, 1000 + b, { scale: 0.5, claimedNorm }));
    await waitFor(() => f.engine.currentVersion >= RELEASES, `${RELEASES} released versions`, 120_000);
    const weights = new Map<number, NamedTensors>();
    const at = async (v: number) => {
      if (!weights.has(v)) {
        const res = await fetch(`${c.url}${weightsApiPath('mf', v)}`);
        assert.equal(res.status, 200);
        weights.set(v, fromWireTensors(decodeWeights(new Uint8Array(await res.arrayBuffer())).tensors));
      }
      return weights.get(v)!;
    };
    const records = ((await f.store.rounds()) as unknown[]).map((r) => RoundRecordSchema.parse(r)).filter((r): r is RoundRecord & { newVersion: number } => r.outcome === 'aggregated' && r.newVersion !== null && r.newVersion <= RELEASES);
    assert.equal(records.length, RELEASES);
    const m = config.dp!.population * q;
    const zDelta = updateNoiseMultiplier(dp.noiseMultiplier!, dp.adaptiveClip ? { targetQuantile: dp.adaptiveClip.targetQuantile, learningRate: 0.2 } : undefined, m);

    let n = 0;
    let sum = 0;
    let sumSq = 0;
    const clips: number[] = [];
    const received: number[] = [];
    for (const r of records) {
      // Every accepted update's ack has reached its bot (they were sent before the round closed).
      await waitFor(() => fleet.filter((b) => b.accepted.has(r.round)).length === r.received, `the acks of round ${r.round}`);
      const clip = fleet.map((b) => b.announced.get(r.round)).find((x) => x !== undefined)!;
      assert.ok(fleet.every((b) => b.announced.get(r.round) === undefined || b.announced.get(r.round) === clip), 'one clip bound per round');
      clips.push(clip);
      received.push(r.received);
      const before = await at(r.baseVersion);
      const after = await at(r.newVersion);
      const sent = fleet.map((b) => b.acceptedUpdate(r.round)).filter((u): u is NamedTensors => u !== undefined);
      assert.equal(sent.length, r.received);
      for (const name of Object.keys(after)) {
        const a = after[name];
        const b0 = before[name];
        for (let i = 0; i < a.length; i++) {
          let known = 0;
          for (const u of sent) known += u[name][i];
          const residual = (a[i] - b0[i] - known / m) / clip;
          n++;
          sum += residual;
          sumSq += residual * residual;
        }
      }
    }
    const mean = sum / n;
    return { measuredStd: Math.sqrt(sumSq / n - mean * mean), expectedStd: zDelta / m, meanResidual: mean, samples: n, rounds: records.length, clips, received };
  } finally {
    for (const b of fleet) b.close();
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function report(what: string, r: NoiseRun): void {
  console.log(
    `${what}: measured noise std ${r.measuredStd.toFixed(5)}·C, expected z_Δ·C/m = ${r.expectedStd.toFixed(5)}·C (ratio ${(r.measuredStd / r.expectedStd).toFixed(4)}), ` +
      `mean ${r.meanResidual.toExponential(2)}, ${r.samples} coordinates over ${r.rounds} rounds; updates received ${r.received.join(', ')}; clip bounds ${r.clips.map((x) => x.toFixed(4)).join(', ')}`,
  );
}

test('DP noise: the released delta minus the exact mean of the accepted updates has std z·C/m (m = q × population, fixed), measured over every coordinate of 6 rounds', { timeout: 180_000 }, async () => {
  const run = await measureNoise({ noiseMultiplier: 1, rounds: 1000, population: 16 }, 0.5, 6, 0.3);
  report('fixed clip', run);
  assert.ok(Math.abs(run.measuredStd / run.expectedStd - 1) < 0.04, `noise std ${run.measuredStd} ≠ z·C/m = ${run.expectedStd}`);
  assert.ok(Math.abs(run.meanResidual) < 4 * run.expectedStd / Math.sqrt(run.samples), `the noise is centred (mean ${run.meanResidual})`);
  assert.ok(run.clips.every((c) => c === 1), 'without adaptive clipping every round uses --clip');
  assert.ok(run.received.some((k) => k !== 8), 'the received counts differ from m: dividing by them would show');
});

test('DP noise with adaptive clipping: std z_Δ·C_r/m with each round\'s own clip bound C_r, z_Δ = (z⁻² − (2σ_b)⁻²)^−½', { timeout: 180_000 }, async () => {
  // 16 bots, about m = 8 of them per round, every one claiming a pre-clip norm above C:
  // the noised fraction below is near 0, far under the target quantile, and C grows ~10 %
  // a round, so noising with a stale C (e.g. --clip) would show too.
  const run = await measureNoise({ noiseMultiplier: 0.5, rounds: 1000, population: 16, adaptiveClip: { targetQuantile: 0.5 } }, 0.5, 16, 2);
  report('adaptive clip', run);
  assert.ok(Math.abs(run.measuredStd / run.expectedStd - 1) < 0.04, `noise std ${run.measuredStd} ≠ z_Δ·C/m = ${run.expectedStd}`);
  assert.ok(run.clips.at(-1)! > 1.3, `the clip bound moved between rounds (${run.clips.join(', ')})`);
  assert.ok(run.expectedStd / (0.5 / 8) > 1.2, 'z_Δ differs enough from z for a wrong split to fail');
});
