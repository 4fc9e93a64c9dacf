/**
 * The participant's side of issue 10 with real Participants (the browser's class, on
 * Node's wasm backend) over real socket.io: a participant whose next upload would take
 * the rolling hour over its upload budget declines — tells the coordinator it is not
 * eligible — while the others' rounds go on; its counters, upload log and budget live
 * in its store, so a new Participant on the same store starts from them.
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

test('over its upload budget a participant declines rounds while the others train on; a new Participant on the same store keeps the counters and the budget', { timeout: 240_000 }, async () => {
  await useNodeBackend('wasm');
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-budget-'));
  const c = await startCoordinator(
    { ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 8, minClients: 2, roundDelayMs: 10, roundIntervalMs: 0, staticDir: path.join(dataDir, 'none') },
    pino({ level: 'silent' }),
  );
  const stores = [0, 1, 2].map((u) => new MemoryParticipantStore(Array.from({ length: 12 }, (_, t) => ({ item: (u * 37 + t * 11) % 400, rating: 1, kind: 'click' as const, timestamp: t }))));
  const events: ParticipantEvent[][] = [[], [], []];
  const make = (u: number, onEvent?: (e: ParticipantEvent) => void) =>
    new Participant({
      serverUrl: c.url,
      model: 'mf',
      seedKey: `budget-test-${u}`,
      credentials: coordinatorCredentials(c.url, stores[u]),
      store: stores[u],
      backend: { name: 'wasm', reason: 'test' },
      foldInEpochs: 0,
      onEvent: (e) => {
        events[u].push(e);
        onEvent?.(e);
      },
    });
  // Participant 0's budget is set, on its first upload, to exactly what it has sent plus one byte: its next upload cannot fit.
  let budget: number | null = null;
  const first = make(0, (e) => {
    if (e.type === 'sent' && budget === null) {
      budget = e.bytes + 1;
      void first.setUploadBudget(budget);
    }
  });
  const participants = [first, make(1), make(2)];
  const version = async () => HealthResponseSchema.parse(await (await fetch(`${c.url}/api/health`)).json()).models.mf.version;
  try {
    for (const p of participants) void p.start();
    await waitFor(() => first.state.roundsJoined >= 1 && first.state.trainingHold === 'upload-budget', 'participant 0 to join a round and then hold for its budget', 120_000, 50);
    const after = await version();
    const othersSent = () => participants[1].state.updatesSent + participants[2].state.updatesSent;
    const othersBefore = othersSent();
    await waitFor(async () => (await version()) >= after + 2, 'two more rounds of the others', 120_000, 50);

    assert.equal(first.state.updatesSent, 1, 'participant 0 sent a second update over its budget');
    assert.equal(first.state.uploadBudgetBytesPerHour, budget);
    assert.equal(first.state.uploadedLastHourBytes, first.state.bytesSent);
    assert.ok(events[0].some((e) => e.type === 'standing' && !e.eligible && e.hold === 'upload-budget'), 'participant 0 never told the coordinator it is not eligible');
    // Selected in a round announced before its report arrived, it declines: nothing trained, nothing sent.
    const declined = events[0].filter((e) => e.type === 'declined');
    for (const d of declined) assert.equal(d.type === 'declined' && d.reason, 'upload-budget');
    // Of the two rounds closed since, at least the second opened after this point: its updates came from the others.
    assert.ok(othersSent() > othersBefore, 'the others did not train on');

    // Reload: a new Participant on the same store shows the device's totals, not zeros.
    first.stop();
    const before = { ...first.state };
    const reloaded = make(0);
    participants.push(reloaded);
    await reloaded.start();
    assert.equal(reloaded.state.roundsJoined, before.roundsJoined);
    assert.equal(reloaded.state.bytesSent, before.bytesSent);
    assert.equal(reloaded.state.updatesSent, before.updatesSent);
    assert.equal(reloaded.state.uploadBudgetBytesPerHour, budget);
    assert.equal(reloaded.state.uploadedLastHourBytes, before.bytesSent);
    assert.deepEqual((await stores[0].getUploadLog(0)).map((u) => u.bytes), [before.bytesSent]);
  } finally {
    for (const p of participants) p.stop();
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
