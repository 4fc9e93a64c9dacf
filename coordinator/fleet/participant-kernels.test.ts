/**
 * A Participant with `localTrainer: 'kernels'` (what a wasm or cpu page runs) sends the
 * update a TensorFlow.js participant sends: the same person (seed key, likes) joins the
 * first round of two identical coordinators over real socket.io, once training on tfjs
 * (Node's wasm backend) and once on the MF kernels; the 'trained' events name the
 * trainer, and the two published versions agree within 1e-5 per local SGD step
 * (server learning rate 1, one participant: version 1 = version 0 + its clipped Δ).
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
import { weightsApiPath } from '../../shared/protocol/model-routes.ts';
import { decodeWeights, fromWireTensors } from '../../shared/update/tensor-codec.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { DEFAULT_CATALOG_SETTINGS } from '../catalog/catalog-descriptor.ts';
import { waitFor } from '../testing/test-participant.ts';

type Trained = Extract<ParticipantEvent, { type: 'trained' }>;

/** One coordinator, one participant on `localTrainer`, one round: its 'trained' event and the published version 1. */
async function oneRound(localTrainer: 'tfjs' | 'kernels', itemFeatures: boolean): Promise<{ trained: Trained; weights: Record<string, Float32Array> }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-kernels-'));
  const c = await startCoordinator(
    { ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 16, minClients: 1, minPerRound: 1, maxRounds: 1, roundDelayMs: 10, roundIntervalMs: 0, staticDir: path.join(dataDir, 'none'), round: { ...DEFAULT_SERVE_CONFIG.round, localEpochs: 2 } },
    pino({ level: 'silent' }),
    { ...DEFAULT_CATALOG_SETTINGS, itemFeatures },
  );
  const events: ParticipantEvent[] = [];
  const store = new MemoryParticipantStore(Array.from({ length: 40 }, (_, t) => ({ item: (t * 37 + 5) % 400, rating: 1, kind: 'click' as const, timestamp: t })));
  const p = new Participant({
    serverUrl: c.url,
    model: 'mf',
    seedKey: 'kernel-parity-person',
    credentials: coordinatorCredentials(c.url, store),
    store,
    backend: { name: 'wasm', reason: 'test' },
    foldInEpochs: 0,
    localTrainer,
    onEvent: (e) => events.push(e),
  });
  try {
    p.start();
    await waitFor(async () => p.version === 1, 'version 1', 60_000, 50);
    const trained = events.find((e): e is Trained => e.type === 'trained');
    assert.ok(trained, `no 'trained' event: ${JSON.stringify(events)}`);
    assert.deepEqual(events.filter((e) => e.type === 'error' || e.type === 'rejected'), []);
    const res = await fetch(`${c.url}${weightsApiPath('mf', 1)}`);
    const weights = fromWireTensors(decodeWeights(new Uint8Array(await res.arrayBuffer())).tensors) as Record<string, Float32Array>;
    return { trained, weights };
  } finally {
    p.stop();
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

for (const [name, itemFeatures, kernel] of [['plain MF', false, 'mf-wasm-simd'], ['MF with the item-feature tower', true, 'mf-tower-js']] as const) {
  test(`a participant on the MF kernels publishes what a tfjs participant publishes, within 1e-5 per step (${name})`, async () => {
    await useNodeBackend('wasm');
    const ref = await oneRound('tfjs', itemFeatures);
    const got = await oneRound('kernels', itemFeatures);
    assert.equal(ref.trained.trainer, 'tfjs');
    assert.equal(got.trained.trainer, kernel);
    assert.equal(got.trained.numExamples, ref.trained.numExamples);
    // 40 likes, batch 32, 2 epochs: 4 SGD steps.
    const tol = 1e-5 * 4;
    assert.ok(Math.abs(got.trained.loss - ref.trained.loss) < tol, `loss ${got.trained.loss} vs ${ref.trained.loss}`);
    assert.ok(Math.abs(got.trained.preClipNorm - ref.trained.preClipNorm) < tol * 10, `norm ${got.trained.preClipNorm} vs ${ref.trained.preClipNorm}`);
    assert.deepEqual(Object.keys(got.weights).sort(), Object.keys(ref.weights).sort());
    if (itemFeatures) assert.ok('featureEmbedding' in got.weights);
    for (const k of Object.keys(ref.weights)) assert.ok(maxAbsDiff(got.weights[k], ref.weights[k]) < tol, `${k}: max |kernel − tfjs| = ${maxAbsDiff(got.weights[k], ref.weights[k])}`);
  });
}

test('a kernel that refuses a round says why and hands the round to TensorFlow.js (which refuses this history too: nothing is sent)', async () => {
  await useNodeBackend('wasm');
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-kernels-'));
  const c = await startCoordinator(
    { ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 16, minClients: 1, minPerRound: 1, maxRounds: 1, roundDelayMs: 10, roundIntervalMs: 0, staticDir: path.join(dataDir, 'none') },
    pino({ level: 'silent' }),
  );
  const events: ParticipantEvent[] = [];
  // A like of an item the catalog does not have (e.g. from a catalog this device saw elsewhere): the kernel refuses it ('bad-data').
  const store = new MemoryParticipantStore([...Array.from({ length: 10 }, (_, t) => ({ item: t * 7, rating: 1, kind: 'click' as const, timestamp: t })), { item: 100_000, rating: 1, kind: 'click', timestamp: 99 }]);
  const p = new Participant({
    serverUrl: c.url, model: 'mf', seedKey: 'kernel-fallback', credentials: coordinatorCredentials(c.url, store), store,
    backend: { name: 'wasm', reason: 'test' }, foldInEpochs: 0, localTrainer: 'kernels', onEvent: (e) => events.push(e),
  });
  try {
    p.start();
    await waitFor(async () => events.filter((e) => e.type === 'error').length >= 2 || events.some((e) => e.type === 'trained'), 'the round to end', 60_000, 50);
    const errors = events.flatMap((e) => (e.type === 'error' ? [e.message] : []));
    // First the kernel's refusal and the hand-over, then TensorFlow.js' own refusal of the same history.
    assert.match(errors[0] ?? '', /^kernel training failed \(history item 100000 is outside the catalog of 400 items\): this round trains on TensorFlow\.js$/, JSON.stringify(events));
    assert.match(errors[1] ?? '', /100000/);
    assert.deepEqual(events.filter((e) => e.type === 'trained' || e.type === 'sent'), []);
    assert.equal(p.state.localTrainer, null);
  } finally {
    p.stop();
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
