/**
 * A growing catalog, end to end on the coordinator's side: real HTTP, real socket.io over
 * loopback, real files, the browser's Participant class (Node, wasm backend).
 *
 * - An item added through the admin API while participants are connected and rounds run
 *   becomes a new version of the grown shape, written between rounds; the participants,
 *   who held the old version, train the new shape in the next round and no update is refused.
 * - The new item's free row is zero (the feature tower gives its vector) and the server
 *   optimizer's moments grew alike.
 * - Retired items are listed as retired and never recommended.
 * - Bad admin input is refused with a typed error and changes nothing (catalog version, file).
 * - A restart resumes the grown model; items added while the coordinator was down grow it at start.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { generateSyntheticDataset, DEFAULT_CATALOG } from '../../shared/data/synthetic-dataset.ts';
import { coordinatorCredentials } from '../../shared/participant/credential-source.ts';
import { MemoryParticipantStore } from '../../shared/participant/memory-participant-store.ts';
import { Participant, type ParticipantEvent } from '../../shared/participant/participant.ts';
import { CatalogResponseSchema } from '../../shared/protocol/messages.ts';
import { decodeWeights, fromWireTensors } from '../../shared/update/tensor-codec.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from '../serve-config.ts';
import { startCoordinator, type RunningCoordinator } from '../server.ts';
import { waitFor } from '../testing/test-participant.ts';
import { CATALOG_FILE, CatalogStore } from './catalog-store.ts';
import { DEFAULT_CATALOG_SETTINGS } from './catalog-descriptor.ts';

const TOKEN = 'catalog-test-operator-token-0123456789';
const TOWER = { ...DEFAULT_CATALOG_SETTINGS, itemFeatures: true };
const DIM = 8;
const roots: string[] = [];
before(async () => {
  await useNodeBackend('wasm');
});
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

const config = (dataDir: string): ServeConfig => ({
  ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: DIM, minClients: 2, roundDelayMs: 10, roundIntervalMs: 0,
  staticDir: path.join(dataDir, 'none'), operatorToken: TOKEN, serverOptimizer: { kind: 'momentum' }, serverLearningRate: 0.5,
});

const admin = (c: RunningCoordinator, route: string, body?: unknown, token = TOKEN) =>
  fetch(`${c.url}/api/admin${route}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const catalogOf = async (c: RunningCoordinator) => CatalogResponseSchema.parse(await (await fetch(`${c.url}/api/catalog`)).json());
const weightsOf = async (c: RunningCoordinator, version: number) =>
  fromWireTensors(decodeWeights(new Uint8Array(await (await fetch(`${c.url}/api/models/mf/weights/${version}`)).arrayBuffer())).tensors);

test('an item added while participants train grows the model between rounds; retired items are never recommended; bad input changes nothing; a restart resumes the grown model', { timeout: 300_000 }, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-catalog-'));
  roots.push(dataDir);
  const base = DEFAULT_CATALOG.items;
  let c = await startCoordinator(config(dataDir), pino({ level: 'silent' }), TOWER);
  const events: { p: number; e: ParticipantEvent }[] = [];
  const participants = [0, 1, 2].map((u) => {
    const store = new MemoryParticipantStore(Array.from({ length: 12 }, (_, t) => ({ item: (u * 37 + t * 11) % base, rating: 1, kind: 'click' as const, timestamp: t })));
    return new Participant({
      serverUrl: c.url, model: 'mf', seedKey: `catalog-test-${u}`, credentials: coordinatorCredentials(c.url, store), store,
      backend: { name: 'wasm', reason: 'test' }, foldInEpochs: 1, onEvent: (e) => events.push({ p: u, e }),
    });
  });
  try {
    const f = () => c.federations[0];
    assert.ok(f().spec.params.some((p) => p.name === 'featureEmbedding'), 'the feature tower is on');
    for (const p of participants) p.start();
    await waitFor(() => f().engine.currentVersion >= 2, 'two aggregated versions', 120_000, 50);

    // ---- bad input: refused, typed, nothing changes
    const fileBefore = await readFile(path.join(dataDir, CATALOG_FILE), 'utf8').catch(() => 'none');
    const bad: [unknown, number, string][] = [
      [{ title: '' }, 400, 'malformed'],
      [{ title: 'x'.repeat(201) }, 400, 'malformed'],
      [{ title: 'Too many', features: Array.from({ length: 17 }, (_, i) => `f${i}`) }, 400, 'malformed'],
      [{ title: 'Extra', features: [], price: 3 }, 400, 'malformed'],
      [{ title: 'Not strings', features: [1, 2] }, 400, 'malformed'],
    ];
    for (const [body, status, code] of bad) {
      const res = await admin(c, '/catalog/items', body);
      assert.equal(res.status, status, JSON.stringify(body));
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, code);
    }
    assert.equal((await admin(c, '/catalog/items', { title: 'No token' }, 'wrong-token-wrong-token-wrong')).status, 401);
    assert.equal((await admin(c, '/catalog/items/99999/retire', {})).status, 404);
    assert.equal((await admin(c, '/catalog/items/abc/retire', {})).status, 400);
    assert.equal((await catalogOf(c)).version, 0);
    assert.equal(await readFile(path.join(dataDir, CATALOG_FILE), 'utf8').catch(() => 'none'), fileBefore);
    assert.equal(f().descriptor.numItems, base);

    // ---- add an item while rounds run
    const liked = (u: number) => Array.from({ length: 12 }, (_, t) => (u * 37 + t * 11) % base);
    const catalog0 = await catalogOf(c);
    const res = await admin(c, '/catalog/items', { title: 'A New Film', features: [...catalog0.features![liked(0)[0]]] });
    assert.equal(res.status, 201);
    assert.deepEqual(await res.json(), { id: base, version: 1 });
    await waitFor(() => f().descriptor.numItems === base + 1, 'the grown model version', 60_000, 20);
    const grown = f().engine.currentVersion;
    const grownWeights = await weightsOf(c, grown);
    assert.equal(grownWeights.itemEmbedding.length, (base + 1) * DIM);
    assert.ok(grownWeights.itemEmbedding.subarray(base * DIM).every((x) => x === 0) && grownWeights.itemBias[base] === 0, 'the new free row and bias start at zero');
    const before = await weightsOf(c, grown - 1);
    assert.deepEqual(grownWeights.itemEmbedding.subarray(0, base * DIM), before.itemEmbedding, 'existing rows are carried over unchanged');
    const cat1 = await catalogOf(c);
    assert.equal(cat1.titles.length, base + 1);
    assert.equal(cat1.titles[base], 'A New Film');
    assert.equal(cat1.version, 1);

    // The participants held the old version: they train the new shape in the next rounds, and nothing is refused.
    const seen = events.length;
    await waitFor(() => f().engine.currentVersion >= grown + 2, 'two rounds on the grown model', 120_000, 50);
    const after = events.slice(seen).map((x) => x.e);
    assert.ok(after.some((e) => e.type === 'round-start' && e.version >= grown), 'a round on the grown version');
    assert.ok(after.some((e) => e.type === 'trained'), 'participants trained on it');
    assert.deepEqual(events.filter((x) => x.e.type === 'rejected' || x.e.type === 'error').map((x) => x.e), []);
    const rec = await participants[0].recommend(base + 1);
    assert.ok(rec.items.includes(base), 'the new item can be recommended');

    // ---- retire: listed as retired, never recommended
    assert.equal((await admin(c, `/catalog/items/${base}/retire`, {})).status, 200);
    assert.equal((await admin(c, `/catalog/items/${base}/retire`, {})).status, 409, 'already retired');
    await waitFor(async () => (await participants[0].recommend(base + 1)).items.length > 0 && !(await participants[0].recommend(base + 1)).items.includes(base), 'the retired item is no longer recommended', 60_000, 50);
    const cat2 = await catalogOf(c);
    assert.deepEqual(cat2.retired, [base]);
    assert.equal(cat2.version, 2);
    assert.deepEqual(f().descriptor.retiredItems, [base]);

    // ---- restart: the grown model and the catalog resume
    for (const p of participants) p.stop();
    await c.close();
    const stoppedAt = { version: f().engine.currentVersion, numItems: f().descriptor.numItems };
    // An item added while the coordinator is down grows the model at start.
    const offline = await CatalogStore.open(dataDir, generateSyntheticDataset({ ...DEFAULT_CATALOG }));
    assert.equal((await offline.add({ title: 'Added Offline', features: ['genre:Drama'] })).id, base + 1);
    c = await startCoordinator(config(dataDir), pino({ level: 'silent' }), TOWER);
    assert.equal(stoppedAt.numItems, base + 1);
    assert.equal(f().descriptor.numItems, base + 2);
    assert.deepEqual(f().descriptor.retiredItems, [base]);
    assert.equal(f().engine.currentVersion, stoppedAt.version + 1, 'one grown version written at start');
    const resumed = await weightsOf(c, f().engine.currentVersion);
    const last = await weightsOf(c, stoppedAt.version);
    assert.deepEqual(resumed.itemEmbedding.subarray(0, (base + 1) * DIM), last.itemEmbedding);
    assert.equal((await catalogOf(c)).titles[base + 1], 'Added Offline');
    const state = await f().store.readServerState(f().engine.currentVersion);
    assert.ok(state, 'the grown version carries the server optimizer state');
    const m = state.tensors.find((t) => t.name === 'm/itemEmbedding');
    assert.equal(m?.data.length, (base + 2) * DIM, 'momentum grew with the table');
  } finally {
    for (const p of participants) p.stop();
    await c.close();
  }
});
