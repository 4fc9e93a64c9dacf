/**
 * Client clipping is engaged, not decorative: with a clip bound far below the norm of
 * an honest local update, real Participants (the browser's class, on Node's wasm
 * backend) over real socket.io must clip every update, and the coordinator, which
 * refuses anything above the bound, must accept them. A participant that skipped
 * clipping would be refused ('over-bound') and no version would ever appear.
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

const CLIP = 1e-3;

test('with a binding clip bound every participant clips, and only clipped updates are aggregated', async () => {
  await useNodeBackend('wasm');
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-clip-'));
  const c = await startCoordinator(
    { ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 8, minClients: 2, roundDelayMs: 10, roundIntervalMs: 0, staticDir: path.join(dataDir, 'none'), round: { ...DEFAULT_SERVE_CONFIG.round, clipNorm: CLIP } },
    pino({ level: 'silent' }),
  );
  const trained: Extract<ParticipantEvent, { type: 'trained' }>[] = [];
  const rejected: ParticipantEvent[] = [];
  const participants = [0, 1, 2].map((u) => {
    const store = new MemoryParticipantStore(Array.from({ length: 12 }, (_, t) => ({ item: (u * 37 + t * 11) % 400, rating: 1, kind: 'click' as const, timestamp: t })));
    return new Participant({
      serverUrl: c.url,
      model: 'mf',
      seedKey: `clip-test-${u}`,
      credentials: coordinatorCredentials(c.url, store),
      store,
      backend: { name: 'wasm', reason: 'test' },
      foldInEpochs: 0,
      onEvent: (e) => {
        if (e.type === 'trained') trained.push(e);
        if (e.type === 'rejected') rejected.push(e);
      },
    });
  });
  try {
    for (const p of participants) p.start();
    const version = async () => HealthResponseSchema.parse(await (await fetch(`${c.url}/api/health`)).json()).models.mf.version;
    await waitFor(async () => (await version()) >= 3, 'three aggregated versions', 120_000, 100);
    assert.ok(trained.length >= 3);
    for (const t of trained) {
      assert.ok(t.preClipNorm > CLIP * 10, `an honest update's norm ${t.preClipNorm} does not exceed the bound: the test would not see a missing clip`);
      assert.equal(t.clipped, true);
    }
    assert.deepEqual(rejected, []);
  } finally {
    for (const p of participants) p.stop();
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
