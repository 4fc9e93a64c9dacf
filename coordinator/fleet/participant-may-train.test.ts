/**
 * A participant trains only while its shell's "may train now" predicate allows (the
 * browser passes "the page is visible"): real Participants over real socket.io. While
 * the predicate says no it tells the coordinator it is not eligible and no round opens
 * for it; once it says yes (and the shell calls trainingConditionsChanged) it trains.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { coordinatorCredentials } from '../../shared/participant/credential-source.ts';
import { MemoryParticipantStore } from '../../shared/participant/memory-participant-store.ts';
import { Participant, type ParticipantEvent } from '../../shared/participant/participant.ts';
import { HealthResponseSchema } from '../../shared/protocol/messages.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { waitFor } from '../testing/test-participant.ts';

test('while mayTrainNow() says no the participant is not eligible and trains nothing; when it says yes it trains', { timeout: 240_000 }, async () => {
  await useNodeBackend('wasm');
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-may-train-'));
  const c = await startCoordinator(
    { ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 8, minClients: 1, roundDelayMs: 10, roundIntervalMs: 0, staticDir: path.join(dataDir, 'none') },
    pino({ level: 'silent' }),
  );
  let visible = false;
  const events: ParticipantEvent[] = [];
  const store = new MemoryParticipantStore(Array.from({ length: 12 }, (_, t) => ({ item: (t * 11) % 400, rating: 1, kind: 'click' as const, timestamp: t })));
  const p = new Participant({
    serverUrl: c.url,
    model: 'mf',
    seedKey: 'may-train-test',
    credentials: coordinatorCredentials(c.url, store),
    store,
    backend: { name: 'wasm', reason: 'test' },
    foldInEpochs: 0,
    mayTrainNow: () => visible,
    onEvent: (e) => events.push(e),
  });
  const health = async () => HealthResponseSchema.parse(await (await fetch(`${c.url}/api/health`)).json()).models.mf;
  try {
    await p.start();
    await waitFor(() => p.state.version !== null && p.state.trainingHold === 'not-now', 'the hidden participant to hold', 60_000, 50);
    await new Promise((r) => setTimeout(r, 500)); // many times the 10 ms round delay
    assert.equal((await health()).round, 0, 'a round opened for a participant that may not train now');
    assert.equal(p.state.updatesSent, 0);
    assert.ok(events.some((e) => e.type === 'standing' && !e.eligible && e.hold === 'not-now'));

    visible = true;
    await p.trainingConditionsChanged();
    await waitFor(async () => p.state.roundsJoined >= 1 && (await health()).version >= 1, 'a round once the page is visible', 120_000, 100);
  } finally {
    p.stop();
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
