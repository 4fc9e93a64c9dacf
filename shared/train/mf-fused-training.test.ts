import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { useNodeBackend } from '../../coordinator/runtime/node-tf-backend.ts';
import { FlockError } from '../errors.ts';
import { createEmbeddingModel } from '../model/embedding-model.ts';
import { initParams } from '../model/init-params.ts';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../model/recommender-model.ts';
import { globalDelta } from '../update/global-delta.ts';
import { clipRowSparseToL2 } from '../update/row-sparse-clip.ts';
import { clipToL2 } from '../update/l2-clip.ts';
import { trainLocally } from './local-training.ts';
import { MfFusedScratch, trainMfClients, type MfFleetTables } from './mf-fused-training.ts';
import { densifyMfDelta, MfScratch, trainMfLocally } from './mf-typed-array-training.ts';

const numItems = 60;
const dim = 8;
const model = createEmbeddingModel({ numItems, dim });
const globals = initParams(model.spec, 'global', 1);
globals.itemBias = Float32Array.from({ length: numItems }, (_, i) => Math.sin(i) * 0.3);

/** A fleet of `users` clients with histories of assorted lengths (one with every item, so no negative can be rejected). */
function fleet(users: number): { tables: MfFleetTables; histories: Int32Array[] } {
  const histories = Array.from({ length: users }, (_, u) =>
    u === users - 1 ? Int32Array.from({ length: numItems }, (_, i) => (i * 7) % numItems) : Int32Array.from({ length: 1 + ((u * 13) % 45) }, (_, i) => (i * 7 + u * 3) % numItems),
  );
  const historyOffsets = new Int32Array(users + 1);
  histories.forEach((h, u) => (historyOffsets[u + 1] = historyOffsets[u] + h.length));
  const historyItems = new Int32Array(historyOffsets[users]);
  histories.forEach((h, u) => historyItems.set(h, historyOffsets[u]));
  const usersTable = new Float32Array(users * dim);
  for (let u = 0; u < users; u++) usersTable.set(initParams(model.spec, 'local', 100 + u).userEmbedding, u * dim);
  return { tables: { numItems, dim, itemEmbedding: globals.itemEmbedding as Float32Array, itemBias: globals.itemBias, users: usersTable, historyOffsets, historyItems }, histories };
}

const configs: [string, TrainConfig, number][] = [
  ['1 epoch, default, clip 0.05 (binds)', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 1 }, 0.05],
  ['2 epochs, no clip binding', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 2 }, 1e3],
  ['3 epochs, lr 0.2, l2 0.01, 2 negatives, batch 8', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 3, learningRate: 0.2, l2: 0.01, negatives: 2, batchSize: 8 }, 0.3],
  ['gradient accumulation over 2 micro-batches of 8', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 2, batchSize: 8, accumulationSteps: 2 }, 0.5],
  ['12 negatives (repeated rows in a step)', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 1, negatives: 12 }, 1],
];

for (const [name, cfg, clipNorm] of configs) {
  test(`fused MF clients equal trainMfLocally + clipRowSparseToL2 bit for bit (${name})`, () => {
    const { tables, histories } = fleet(9);
    const before = tables.users.slice();
    const clients = Int32Array.from([3, 0, 8, 5, 1, 7]);
    const seeds = Uint32Array.from(clients, (u) => 1000 + u * 17);
    // Two calls on one scratch (stamps and slots must be left clean) and odd split points.
    const a = trainMfClients(tables, clients.subarray(0, 2), seeds.subarray(0, 2), { train: cfg, clipNorm }, new MfFusedScratch());
    const scratch = new MfFusedScratch();
    const b = trainMfClients(tables, clients.subarray(2), seeds.subarray(2), { train: cfg, clipNorm }, scratch);
    const parts = [...[0, 1].map((c) => ({ r: a, c })), ...[0, 1, 2, 3].map((c) => ({ r: b, c }))];
    parts.forEach(({ r, c }, k) => {
      const u = clients[k];
      const ref = trainMfLocally(model, dim, tables, before.subarray(u * dim, u * dim + dim), histories[u], cfg, seeds[k], new MfScratch());
      const clip = clipRowSparseToL2({ itemEmbedding: { rows: ref.delta.rows, data: ref.delta.itemEmbedding }, itemBias: { rows: ref.delta.rows, data: ref.delta.itemBias } }, clipNorm);
      const r0 = r.rowOffsets[c];
      const r1 = r.rowOffsets[c + 1];
      assert.deepEqual(r.rows.slice(r0, r1), ref.delta.rows);
      assert.deepEqual(r.itemEmbedding.slice(r0 * dim, r1 * dim), clip.tensors.itemEmbedding.data);
      assert.deepEqual(r.itemBias.slice(r0, r1), clip.tensors.itemBias.data);
      assert.equal(r.preClipNorm[c], clip.preClipNorm);
      assert.equal(r.clipped[c] === 1, clip.clipped);
      assert.equal(r.numExamples[c], ref.numExamples);
      assert.equal(r.loss[c], ref.loss);
      assert.deepEqual(tables.users.slice(u * dim, u * dim + dim), ref.userEmbedding);
    });
    // Clients not trained keep their vectors.
    for (const u of [2, 4, 6]) assert.deepEqual(tables.users.slice(u * dim, u * dim + dim), before.slice(u * dim, u * dim + dim));
  });
}

/** A fleet over `items` items (histories of assorted lengths), for kernels compared on one catalog size. */
function wideFleet(users: number, items: number): MfFleetTables {
  const m = createEmbeddingModel({ numItems: items, dim });
  const g = initParams(m.spec, 'global', 3);
  const hs = Array.from({ length: users }, (_, u) => Int32Array.from({ length: 1 + ((u * 29) % 70) }, (_, i) => (i * 37 + u * 11) % items));
  const historyOffsets = new Int32Array(users + 1);
  hs.forEach((h, u) => (historyOffsets[u + 1] = historyOffsets[u] + h.length));
  const historyItems = new Int32Array(historyOffsets[users]);
  hs.forEach((h, u) => historyItems.set(h, historyOffsets[u]));
  const usersTable = new Float32Array(users * dim);
  for (let u = 0; u < users; u++) usersTable.set(initParams(m.spec, 'local', 200 + u).userEmbedding, u * dim);
  return { numItems: items, dim, itemEmbedding: g.itemEmbedding as Float32Array, itemBias: Float32Array.from({ length: items }, (_, i) => Math.cos(i) * 0.2), users: usersTable, historyOffsets, historyItems };
}

/**
 * The wasm SIMD kernel against the JS kernel on the same clients and seeds: the same rows
 * (same draws, same working sets) and, per step, values within float32 rounding (float32
 * sums against float64): ≤ 1e-6 · steps on Δ, user vectors and loss; the same clip decisions.
 * 60 items: working sets listed by the dense scan; 5,000 items: by the heap sort.
 */
for (const [name, cfg, clipNorm] of configs) {
  for (const items of [numItems, 5000]) {
    test(`wasm kernel equals the JS kernel within float32 rounding (${name}, ${items} items)`, () => {
      const a = wideFleet(9, items);
      const b = wideFleet(9, items);
      const clients = Int32Array.from([3, 0, 8, 5, 1, 7]);
      const seeds = Uint32Array.from(clients, (u) => 1000 + u * 17);
      const scratch = new MfFusedScratch();
      const js = trainMfClients(a, clients, seeds, { train: cfg, clipNorm }, new MfFusedScratch());
      // Two calls on one scratch: the kernel's stamps, slots and buffers must be left clean.
      const w1 = trainMfClients(b, clients.subarray(0, 2), seeds.subarray(0, 2), { train: cfg, clipNorm, kernel: 'wasm' }, scratch);
      const r1 = { rows: w1.rows.slice(), emb: w1.itemEmbedding.slice(), bias: w1.itemBias.slice(), norm: w1.preClipNorm.slice(), loss: w1.loss.slice(), clipped: w1.clipped.slice(), offsets: w1.rowOffsets.slice() };
      const w2 = trainMfClients(b, clients.subarray(2), seeds.subarray(2), { train: cfg, clipNorm, kernel: 'wasm' }, scratch);
      const wRows = Int32Array.from([...r1.rows, ...w2.rows]);
      const wEmb = Float32Array.from([...r1.emb, ...w2.itemEmbedding]);
      const wBias = Float32Array.from([...r1.bias, ...w2.itemBias]);
      assert.deepEqual(wRows, js.rows);
      const steps = cfg.localEpochs * Math.ceil(70 / cfg.batchSize);
      const tol = 1e-6 * steps;
      const maxDiff = (x: ArrayLike<number>, y: ArrayLike<number>) => Array.from(x).reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
      assert.ok(maxDiff(wEmb, js.itemEmbedding) < tol, `Δ emb ${maxDiff(wEmb, js.itemEmbedding)}`);
      assert.ok(maxDiff(wBias, js.itemBias) < tol, `Δ bias ${maxDiff(wBias, js.itemBias)}`);
      assert.ok(maxDiff(b.users, a.users) < tol, `users ${maxDiff(b.users, a.users)}`);
      assert.ok(maxDiff([...r1.norm, ...w2.preClipNorm], js.preClipNorm) < tol, 'pre-clip norms');
      assert.ok(maxDiff([...r1.loss, ...w2.loss], js.loss) < tol, `loss ${maxDiff([...r1.loss, ...w2.loss], js.loss)}`);
      assert.deepEqual([...r1.clipped, ...w2.clipped], [...js.clipped]);
      assert.deepEqual([...r1.offsets.subarray(1), ...Array.from(w2.rowOffsets.subarray(1), (o) => o + r1.rows.length)], [...js.rowOffsets.subarray(1)]);
      // A clipped update is at the bound (float32 rounding), an unclipped one below it.
      for (let c = 0; c < 2; c++) {
        let sq = 0;
        for (let x = r1.offsets[c] * dim; x < r1.offsets[c + 1] * dim; x++) sq += r1.emb[x] * r1.emb[x];
        for (let x = r1.offsets[c]; x < r1.offsets[c + 1]; x++) sq += r1.bias[x] * r1.bias[x];
        assert.ok(Math.sqrt(sq) <= clipNorm * (1 + 1e-6), `norm ${Math.sqrt(sq)} over ${clipNorm}`);
      }
    });
  }
}

test('wasm kernel refuses a dim that is not a multiple of 4 (bad-config), and trains nothing', () => {
  const t = { ...fleet(2).tables, dim: 6, itemEmbedding: new Float32Array(numItems * 6), users: new Float32Array(2 * 6).fill(0.5) };
  const before = t.users.slice();
  assert.throws(() => trainMfClients(t, [0], [1], { train: DEFAULT_TRAIN_CONFIG, clipNorm: 1, kernel: 'wasm' }), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
  assert.deepEqual(t.users, before);
});

for (const kernel of ['js', 'wasm'] as const) test(`computeLoss false changes nothing but the loss (NaN) (${kernel} kernel)`, () => {
  const cfg = { ...DEFAULT_TRAIN_CONFIG, localEpochs: 2 };
  const x = fleet(4);
  const y = fleet(4);
  const clients = [0, 1, 2, 3];
  const seeds = [5, 6, 7, 8];
  const a = trainMfClients(x.tables, clients, seeds, { train: cfg, clipNorm: 0.1, kernel });
  const b = trainMfClients(y.tables, clients, seeds, { train: cfg, clipNorm: 0.1, computeLoss: false, kernel });
  assert.deepEqual(b.itemEmbedding, a.itemEmbedding);
  assert.deepEqual(b.preClipNorm, a.preClipNorm);
  assert.deepEqual(y.tables.users, x.tables.users);
  assert.ok(b.loss.every(Number.isNaN));
  assert.ok(a.loss.every(Number.isFinite));
});

for (const kernel of ['js', 'wasm'] as const) test(`clipNorm Infinity: the unclipped Δ, its norm reported (${kernel} kernel)`, () => {
  const cfg = { ...DEFAULT_TRAIN_CONFIG, localEpochs: 1 };
  const r = trainMfClients(fleet(3).tables, [1], [9], { train: cfg, clipNorm: Infinity, kernel });
  assert.equal(r.clipped[0], 0);
  let s = 0;
  for (const x of r.itemEmbedding) s += x * x;
  for (const x of r.itemBias) s += x * x;
  // The JS kernel sums exactly this way; the wasm one in two float64 lanes (≈ 1e-15 apart).
  if (kernel === 'js') assert.equal(r.preClipNorm[0], Math.sqrt(s));
  else assert.ok(Math.abs(r.preClipNorm[0] - Math.sqrt(s)) < 1e-12 * Math.sqrt(s));
});

describeTfjs();

/**
 * Against the reference tfjs path (trainLocally on createEmbeddingModel): within 1e-5 per
 * SGD step — a one-step client within 1e-5, a k-step client within k·1e-5 — for the
 * Δ, the user vector and the loss.
 */
function describeTfjs(): void {
  before(async () => {
    await useNodeBackend('wasm');
  });
  const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  for (const [name, cfg, historyLength] of [
    ['one step: 20 positives, batch 32', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 1 }, 20],
    ['two epochs of 2 batches (4 steps)', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 2 }, 40],
    ['3 epochs, lr 0.2, l2 0.01, 2 negatives', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 3, learningRate: 0.2, l2: 0.01, negatives: 2 }, 40],
    ['accumulation: 2 micro-batches of 8 per step', { ...DEFAULT_TRAIN_CONFIG, localEpochs: 2, batchSize: 8, accumulationSteps: 2 }, 40],
  ] as const) {
    for (const kernel of ['js', 'wasm'] as const) test(`fused MF client (${kernel} kernel) matches tfjs trainLocally within 1e-5 per step (${name})`, async () => {
      const history = Int32Array.from({ length: historyLength }, (_, i) => (i * 7) % numItems);
      const locals = initParams(model.spec, 'local', 2);
      const ref = await trainLocally(model, globals, locals, history, cfg, 11);
      const tables: MfFleetTables = {
        numItems, dim, itemEmbedding: globals.itemEmbedding as Float32Array, itemBias: globals.itemBias,
        users: Float32Array.from(locals.userEmbedding), historyOffsets: Int32Array.from([0, history.length]), historyItems: history,
      };
      const fast = trainMfClients(tables, [0], [11], { train: cfg, clipNorm: Infinity, kernel });
      const tol = 1e-5 * ref.steps;
      const refDelta = globalDelta(model.spec, ref.globals, globals);
      const dense = densifyMfDelta({ rows: fast.rows, itemEmbedding: fast.itemEmbedding, itemBias: fast.itemBias }, numItems, dim);
      assert.ok(maxAbsDiff(dense.itemEmbedding, refDelta.itemEmbedding) < tol, `emb ${maxAbsDiff(dense.itemEmbedding, refDelta.itemEmbedding)} over ${ref.steps} steps`);
      assert.ok(maxAbsDiff(dense.itemBias, refDelta.itemBias) < tol, `bias ${maxAbsDiff(dense.itemBias, refDelta.itemBias)}`);
      assert.ok(maxAbsDiff(tables.users, ref.locals.userEmbedding) < tol, 'user vector');
      assert.ok(Math.abs(fast.loss[0] - ref.loss) < tol, `loss ${fast.loss[0]} vs ${ref.loss}`);
      assert.equal(fast.numExamples[0], ref.numExamples);
      // And clipping the fused Δ equals clipToL2 of the dense reference Δ's shape (norm within tolerance).
      const refClip = clipToL2(refDelta, 1e9);
      assert.ok(Math.abs(fast.preClipNorm[0] - refClip.preClipNorm) < tol * 10);
    });
  }
}
