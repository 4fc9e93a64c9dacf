/**
 * Secure aggregation WITH differential privacy, over real sockets: the noise stage runs
 * on the unmasked sum (coordinator/rounds/secure-round-release.ts → dp-fedavg.ts
 * noisedMean). Four participants mask KNOWN updates (half the clip bound each); Poisson
 * sampling at q = 1 of a stated population of 8, so m = 8 while 4 updates arrive; server
 * SGD at learning rate 1. Over every coordinate of 4 released rounds, the released delta
 * minus Σ Δ_k / m must be noise of std z·C/m, centred — a release divided by the 4
 * summands, or without noise, or noised with the wrong scale, fails. Each round is charged.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { RoundRecordSchema } from '../../shared/protocol/messages.ts';
import { weightsApiPath } from '../../shared/protocol/model-routes.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { decodeWeights, fromWireTensors } from '../../shared/update/tensor-codec.ts';
import { applyDp, DEFAULT_SERVE_CONFIG, type ServeConfig } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { unitDirection } from '../testing/known-update-bot.ts';
import { SecAggBot } from '../testing/secagg-bot.ts';
import { waitFor } from '../testing/test-participant.ts';
import { applySecureAggregation } from './secure-round-settings.ts';

const RELEASES = 4;
const BOTS = 4;
const POPULATION = 8;
const Z = 1;
const CLIP = 1;

test('secure aggregation + DP: released delta − Σ Δ_k / m has std z·C/m (m = q × population = 8, 4 summands), centred; every round charged', { timeout: 180_000 }, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-secagg-dp-'));
  const base: ServeConfig = {
    ...DEFAULT_SERVE_CONFIG,
    models: ['mf'],
    port: 0,
    dataDir,
    dim: 4,
    minClients: BOTS,
    roundDelayMs: 5,
    roundIntervalMs: 0,
    roundTimeoutMs: 20_000,
    staticDir: path.join(dataDir, 'none'),
    clientsPerRound: 1,
    serverOptimizer: { kind: 'sgd' },
    serverLearningRate: 1,
    round: { ...DEFAULT_SERVE_CONFIG.round, clipNorm: CLIP },
  };
  const secure = applySecureAggregation(base, { dropoutFraction: 0.2 }).config;
  const { config } = applyDp(secure, { noiseMultiplier: Z, rounds: 1000, population: POPULATION });
  const c = await startCoordinator({ ...config, maxRounds: RELEASES }, pino({ level: 'silent' }));
  const f = c.federations[0];
  const bots: SecAggBot[] = [];
  try {
    for (let k = 0; k < BOTS; k++) {
      const delta = Object.fromEntries(Object.entries(unitDirection(f.spec, 300 + k)).map(([n, d]) => [n, d.map((x) => x * 0.5 * CLIP)])) as NamedTensors;
      bots.push(await SecAggBot.join(c.url, f.spec, delta));
    }
    await waitFor(() => f.engine.currentVersion >= RELEASES, `${RELEASES} released versions`, 150_000);
    const records = ((await f.store.rounds()) as unknown[]).map((r) => RoundRecordSchema.parse(r));
    assert.equal(records.length, RELEASES);
    const weights = async (v: number) => fromWireTensors(decodeWeights(new Uint8Array(await (await fetch(`${c.url}${weightsApiPath('mf', v)}`)).arrayBuffer())).tensors);
    const m = POPULATION; // q = 1
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    for (const r of records) {
      assert.equal(r.outcome, 'aggregated');
      assert.equal(r.received, BOTS, `round ${r.round}: all four masked inputs in the sum`);
      const [before, after] = [await weights(r.baseVersion), await weights(r.newVersion!)];
      for (const name of Object.keys(after)) {
        for (let i = 0; i < after[name].length; i++) {
          let known = 0;
          for (const b of bots) known += b.delta[name][i];
          const residual = (after[name][i] - before[name][i] - known / m) / CLIP;
          n++;
          sum += residual;
          sumSq += residual * residual;
        }
      }
    }
    const mean = sum / n;
    const std = Math.sqrt(sumSq / n - mean * mean);
    const expected = Z / m;
    console.log(`secure aggregation + DP: residual std ${std.toFixed(5)}·C, expected z·C/m = ${expected.toFixed(5)}·C (ratio ${(std / expected).toFixed(4)}), mean ${mean.toExponential(2)}, ${n} coordinates over ${RELEASES} rounds`);
    assert.ok(Math.abs(std / expected - 1) < 0.05, `noise std ${std} ≠ z·C/m = ${expected}`);
    assert.ok(Math.abs(mean) < 4 * expected / Math.sqrt(n), `the noise is centred (mean ${mean})`);
    const privacy = f.engine.privacy!;
    assert.equal(privacy.rounds, RELEASES, 'every released round was charged');
    assert.ok(privacy.epsilon > 0);
  } finally {
    for (const b of bots) b.close();
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
