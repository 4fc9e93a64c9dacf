/**
 * Under differential privacy a Poisson draw may sample nobody. Such a round must still be
 * released (the noise alone) and charged, and the next one must open: the engine may
 * neither skip it (that would reveal that nobody came) nor stall on it. With one bot
 * sampled at q = 0.05 almost every round is empty.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { applyDp, DEFAULT_SERVE_CONFIG, type ServeConfig } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { KnownUpdateBot } from '../testing/known-update-bot.ts';
import { waitFor } from '../testing/test-participant.ts';

test('DP: rounds that sampled nobody are released as noise and charged, and rounds go on', { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-dp-empty-'));
  const base: ServeConfig = {
    ...DEFAULT_SERVE_CONFIG,
    models: ['mf'],
    port: 0,
    dataDir,
    dim: 4,
    minClients: 1,
    roundDelayMs: 5,
    roundIntervalMs: 0,
    staticDir: path.join(dataDir, 'none'),
    clientsPerRound: 0.05,
    serverOptimizer: { kind: 'sgd' },
    serverLearningRate: 1,
    round: { ...DEFAULT_SERVE_CONFIG.round, clipNorm: 1 },
  };
  const { config } = applyDp(base, { noiseMultiplier: 5, rounds: 1000, population: 100 });
  const c = await startCoordinator(config, pino({ level: 'silent' }));
  const f = c.federations[0];
  const bot = await KnownUpdateBot.join(c.url, 'mf', f.spec, 7, { scale: 0.5, claimedNorm: 0.3 });
  try {
    await waitFor(() => f.engine.currentVersion >= 8, '8 released versions', 90_000);
    const rounds = (await f.store.rounds()) as { outcome: string; received: number; selected: number }[];
    const empty = rounds.filter((r) => r.selected === 0);
    assert.ok(empty.length >= 3, `most rounds sample nobody at q = 0.05 (${empty.length} of ${rounds.length})`);
    assert.ok(empty.every((r) => r.outcome === 'aggregated'), 'an empty round is released, not skipped');
    const privacy = f.engine.privacy!;
    assert.equal(privacy.rounds, f.engine.currentVersion, 'every released round, empty or not, is charged');
  } finally {
    bot.close();
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
