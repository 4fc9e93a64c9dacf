/**
 * An accepted update is not yet learnt: only a version published from its round makes the
 * participant "up to date" (shared/participant/training-need.ts). A round that misses its
 * quorum after accepting the update (here: a silent second participant) publishes nothing,
 * so the participant must still have something new — else, with everyone else up to date,
 * no round would ever open again (a coordinator restarted mid-round stalled that way).
 * Real Participant and coordinator over socket.io.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { coordinatorCredentials } from '../../shared/participant/credential-source.ts';
import { MemoryParticipantStore } from '../../shared/participant/memory-participant-store.ts';
import { Participant } from '../../shared/participant/participant.ts';
import { EVENTS, HealthResponseSchema, RoundsResponseSchema } from '../../shared/protocol/messages.ts';
import { modelApiPath } from '../../shared/protocol/model-routes.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { joinAs, waitFor } from '../testing/test-participant.ts';

test('an update accepted in a round that publishes nothing leaves the participant with something new, and the next round opens', { timeout: 240_000 }, async () => {
  await useNodeBackend('wasm');
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-unpublished-'));
  const c = await startCoordinator(
    {
      ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 8, minClients: 2, clientsPerRound: 1, quorum: 1,
      roundDelayMs: 500, roundIntervalMs: 0, // the delay lets the silent one's 'nothing new' land before the next round
      roundTimeoutMs: 3_000, staticDir: path.join(dataDir, 'none'),
    },
    pino({ level: 'silent' }),
  );
  const store = new MemoryParticipantStore(Array.from({ length: 12 }, (_, t) => ({ item: (t * 11) % 400, rating: 1, kind: 'click' as const, timestamp: t })));
  const p = new Participant({
    serverUrl: c.url, model: 'mf', seedKey: 'unpublished-round-test', credentials: coordinatorCredentials(c.url, store), store,
    backend: { name: 'wasm', reason: 'test' }, foldInEpochs: 0,
  });
  const health = async () => HealthResponseSchema.parse(await (await fetch(`${c.url}/api/health`)).json()).models.mf;
  // Selected for the first round, it never answers, so that round (quorum: all) fails; once it
  // closes, it says it has nothing new. Then only the participant can make a round open.
  const silent = await joinAs(c.url, 'mf', { beforeJoin: (s) => s.on(EVENTS.roundClosed, () => s.emit(EVENTS.eligibility, { eligible: true, hasNewData: false })) });
  try {
    await p.start();
    await waitFor(() => p.state.roundsJoined >= 1, 'the participant\'s update in the first round to be accepted', 120_000, 50);
    await waitFor(async () => (await health()).round >= 2, 'a second round although the first published nothing', 120_000, 100);
    const rounds = RoundsResponseSchema.parse(await (await fetch(`${c.url}${modelApiPath('mf')}/rounds`)).json()).rounds;
    assert.notEqual(rounds.find((r) => r.round === 1)?.outcome, 'aggregated', 'the first round was meant to fail (a silent participant, quorum: all)');
    // Learnt only when a version comes out of its round: then (and not at the ack) it is recorded.
    await waitFor(async () => (await store.getParticipation('mf')).lastContribution !== null, 'the contribution recorded once a version is published', 120_000, 100);
    assert.ok((await health()).version >= 1, 'a version was published before the contribution was recorded');
  } finally {
    p.stop();
    silent.socket.close();
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
