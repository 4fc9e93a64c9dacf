/**
 * Compressed updates end to end: real Participants (the browser's class, on Node's wasm
 * backend) over real socket.io against a coordinator whose rounds accept f32 and int8
 * (--update-encodings f32,int8). Each participant must pick int8 (the smallest offered
 * it supports), keep the decoded update within a binding clip bound (the coordinator
 * refuses anything above it), and be aggregated; a participant that only sends f16
 * shares no encoding with the round and sends nothing.
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
import { HealthResponseSchema, ModelInfoResponseSchema } from '../../shared/protocol/messages.ts';
import { modelApiPath } from '../../shared/protocol/model-routes.ts';
import type { UpdateEncoding } from '../../shared/update/update-encoding.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { waitFor } from '../testing/test-participant.ts';

const CLIP = 1e-3;

test('participants send int8 when the round offers it, within the clip bound, and are aggregated; one sharing no encoding sends nothing', async () => {
  await useNodeBackend('wasm');
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-int8-'));
  const c = await startCoordinator(
    {
      ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 8, minClients: 2, roundDelayMs: 10, roundIntervalMs: 0, staticDir: path.join(dataDir, 'none'),
      round: { ...DEFAULT_SERVE_CONFIG.round, clipNorm: CLIP, updateEncodings: ['f32', 'int8'] },
    },
    pino({ level: 'silent' }),
  );
  const sent: number[] = [];
  const trained: Extract<ParticipantEvent, { type: 'trained' }>[] = [];
  const rejected: ParticipantEvent[] = [];
  const f16Only: ParticipantEvent[] = [];
  const participant = (u: number, updateEncodings?: UpdateEncoding[]) => {
    const store = new MemoryParticipantStore(Array.from({ length: 12 }, (_, t) => ({ item: (u * 37 + t * 11) % 400, rating: 1, kind: 'click' as const, timestamp: t })));
    return new Participant({
      serverUrl: c.url, model: 'mf', seedKey: `int8-test-${u}`, credentials: coordinatorCredentials(c.url, store), store,
      backend: { name: 'wasm', reason: 'test' }, foldInEpochs: 0, updateRows: 'dense', ...(updateEncodings ? { updateEncodings } : {}),
      onEvent: (e) => {
        if (updateEncodings) return void f16Only.push(e);
        if (e.type === 'sent') sent.push(e.bytes);
        if (e.type === 'trained') trained.push(e);
        if (e.type === 'rejected') rejected.push(e);
      },
    });
  };
  const participants = [participant(0), participant(1), participant(2), participant(3, ['f16'])];
  try {
    for (const p of participants) p.start();
    const info = ModelInfoResponseSchema.parse(await (await fetch(`${c.url}${modelApiPath('mf')}`)).json());
    assert.deepEqual(info.round.updateEncodings, ['f32', 'int8']);
    const denseF32 = info.params.filter((p) => p.scope === 'global').reduce((s, p) => s + 4 * p.shape.reduce((a, b) => a * b, 1), 0);
    const version = async () => HealthResponseSchema.parse(await (await fetch(`${c.url}/api/health`)).json()).models.mf.version;
    await waitFor(async () => (await version()) >= 3, 'three aggregated versions', 120_000, 100);
    assert.deepEqual(rejected, []);
    assert.ok(trained.every((t) => t.clipped), 'the clip bound must bind, or the test would not see an int8 update over it');
    // Every row sent (updateRows 'dense'): f32 would be denseF32 bytes, f16 half of it, int8
    // (1 byte per value + a 4-byte scale per 8-wide row) 3/8 of it.
    assert.ok(sent.length >= 3 && sent.every((b) => b < denseF32 * 0.42 && b > denseF32 * 0.25), `sent ${sent} bytes, dense f32 is ${denseF32}`);
    assert.ok(f16Only.some((e) => e.type === 'error' && /none of which this participant sends/.test(e.message)), JSON.stringify(f16Only.filter((e) => e.type === 'error')));
    assert.ok(!f16Only.some((e) => e.type === 'sent'));
  } finally {
    for (const p of participants) p.stop();
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
