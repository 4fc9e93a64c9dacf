import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StateMirror, type MirrorHandlers, type TrainerSnapshot } from './state-mirror.ts';

type Heard = { type: string; value?: unknown };

function tab(name: string, heard: Heard[]): StateMirror {
  const handlers: MirrorHandlers = {
    onSnapshot: (value) => heard.push({ type: 'snapshot', value }),
    onHello: () => heard.push({ type: 'hello' }),
    onInteraction: (value) => heard.push({ type: 'interaction', value }),
    onUnlike: (value) => heard.push({ type: 'unlike', value }),
    onParticipation: (value) => heard.push({ type: 'participation', value }),
    onReclaim: () => heard.push({ type: 'reclaim' }),
  };
  return new StateMirror(handlers, name);
}

async function waitForCount(heard: Heard[], n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (heard.length < n) {
    if (Date.now() > deadline) assert.fail(`heard ${heard.length} of ${n} messages: ${JSON.stringify(heard)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const snapshot: TrainerSnapshot = {
  backend: { name: 'webgpu', reason: 'forced' },
  participating: true,
  models: {
    mf: {
      state: { connected: true, version: 3, roundsJoined: 2, lastLoss: 0.61, bytesSent: 5120, updatesSent: 2, lastRejection: null, uploadBudgetBytesPerHour: 1048576, uploadedLastHourBytes: 5120, trainingHold: null, localTrainer: 'mf-wasm-simd' },
      recs: { heading: 'Recommended for you', items: [7, 2, 9], version: 3, source: 'personal' },
      status: { state: 'up-to-date', text: 'Up to date with the shared model (version 3).' },
      replaced: null,
      privacy: {
        status: 'ok',
        privacy: {
          mechanism: 'dp-fedavg', epsilon: 0.8123456789, delta: 1e-5, epsilonBudget: 4, rounds: 3, roundBudget: 50, noiseMultiplier: 1,
          samplingRate: 0.25, population: 12, clipNorm: 1, adaptiveClipping: true, exhausted: false, version: 3,
        },
      },
    },
    sasrec: {
      state: { connected: true, version: 1, roundsJoined: 1, lastLoss: null, bytesSent: 100, updatesSent: 1, lastRejection: null, uploadBudgetBytesPerHour: 1048576, uploadedLastHourBytes: 5120, trainingHold: null, localTrainer: 'tfjs' },
      recs: null,
      replaced: null,
      // An older trainer tab's snapshot carries no privacy: still accepted.
    },
  },
};

test('what one tab says reaches the other tabs of the profile, checked; malformed messages are ignored', async () => {
  const name = `unit-mirror-${process.pid}`;
  const trainerHeard: Heard[] = [];
  const followerHeard: Heard[] = [];
  const trainer = tab(name, trainerHeard);
  const follower = tab(name, followerHeard);
  const stray = new BroadcastChannel(name);
  try {
    follower.hello();
    follower.announceInteraction({ item: 4, rating: 1, kind: 'click', timestamp: 1 });
    follower.announceUnlike(4);
    follower.announceParticipation(false);
    follower.askToReclaim();
    await waitForCount(trainerHeard, 5);
    assert.deepEqual(trainerHeard, [
      { type: 'hello' },
      { type: 'interaction', value: { item: 4, rating: 1, kind: 'click', timestamp: 1 } },
      { type: 'unlike', value: 4 },
      { type: 'participation', value: false },
      { type: 'reclaim' },
    ]);

    // An older build's message (or anything else) on the channel is not acted on.
    stray.postMessage({ type: 'snapshot', snapshot: { models: 'nonsense' } });
    stray.postMessage({ type: 'interaction', interaction: { item: -1 } });
    // A privacy block that fails the protocol's schema is not shown as a number.
    stray.postMessage({ type: 'snapshot', snapshot: { ...snapshot, models: { mf: { ...snapshot.models.mf, privacy: { status: 'ok', privacy: { epsilon: -1 } } } } } });
    trainer.publish(snapshot);
    await waitForCount(followerHeard, 1);
    assert.deepEqual(followerHeard, [{ type: 'snapshot', value: snapshot }]);
    assert.equal(trainerHeard.length, 5, 'a tab does not hear itself');
  } finally {
    trainer.close();
    follower.close();
    stray.close();
  }
});
