import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { useNodeBackend } from '../../coordinator/runtime/node-tf-backend.ts';
import { FlockError } from '../errors.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { trainLocally } from '../train/local-training.ts';
import { createEmbeddingModel, mfItemTables, type EmbeddingModelConfig } from './embedding-model.ts';
import { initParams } from './init-params.ts';
import { growGlobals } from './grow-item-tables.ts';
import { checkItemFeatureTable, featureIds, itemFeatureTable, MAX_FEATURES_PER_ITEM } from './item-feature-tower.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';

before(async () => {
  await useNodeBackend('wasm');
});

test('a feature table is compressed rows of sorted distinct buckets; a malformed one is refused with a typed error', () => {
  const t = itemFeatureTable([['genre:Drama', 'GENRE:drama ', 'word:star'], [], ['genre:Comedy']], 64);
  assert.deepEqual(t.offsets, [0, 2, 2, 3]);
  assert.deepEqual(t.ids.slice(0, 2), [...t.ids.slice(0, 2)].sort((a, b) => a - b));
  assert.deepEqual(featureIds(['genre:Comedy'], 64), t.ids.slice(2));
  checkItemFeatureTable(t, 3);
  assert.throws(() => checkItemFeatureTable(t, 4), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
  assert.throws(() => checkItemFeatureTable({ ...t, ids: [0, 1, 64] }, 3), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
  assert.equal(featureIds(Array.from({ length: 40 }, (_, i) => `f${i}`), 1 << 16).length, MAX_FEATURES_PER_ITEM);
});

test('the tower model scores free row + mean feature embedding and its parameters are GLOBAL', () => {
  const cfg: EmbeddingModelConfig = { numItems: 3, dim: 2, itemFeatures: { buckets: 4, offsets: [0, 2, 2, 3], ids: [0, 1, 3] } };
  const model = createEmbeddingModel(cfg);
  assert.deepEqual(model.spec.params.filter((p) => p.scope === 'global').map((p) => [p.name, p.shape.join('×')]), [
    ['itemEmbedding', '3×2'], ['itemBias', '3'], ['featureEmbedding', '4×2'], ['featureBias', '4'],
  ]);
  const globals: NamedTensors = {
    itemEmbedding: Float32Array.of(1, 0, 0, 1, 0, 0),
    itemBias: Float32Array.of(0, 0.5, 0),
    featureEmbedding: Float32Array.of(2, 0, 0, 2, 9, 9, 4, 4),
    featureBias: Float32Array.of(1, 3, 7, -1),
  };
  const { vectors, bias } = mfItemTables(cfg, globals);
  assert.deepEqual([...vectors], [2, 1, 0, 1, 4, 4]);
  assert.deepEqual([...bias], [2, 0.5, -1]);
  assert.deepEqual([...model.scoreAll(globals, { userEmbedding: Float32Array.of(1, 1) }, new Int32Array())], [5, 1.5, 7]);
});

test('retired items are never sampled as negatives', () => {
  const retired = Array.from({ length: 45 }, (_, i) => i + 5);
  const model = createEmbeddingModel({ numItems: 50, dim: 2, retiredItems: retired });
  const batches = model.makeBatches(Int32Array.from([0, 1]), { localEpochs: 1, batchSize: 2, learningRate: 0.1, negatives: 20, l2: 0 }, 50, new SeededRandom(3));
  for (const b of batches) for (const n of b.negatives) assert.ok(n >= 2 && n < 5, `negative ${n} is retired or seen`);
});

/**
 * Two tastes: people of taste A like items of genre A (0..19), people of taste B genre B
 * (20..39). Item 40 is new (free row and bias zero, never interacted with) and has genre A.
 * With the tower, after training it ranks in the top 10 of most A people and of few B
 * people; without the tower its score is 0 for everyone, so it cannot tell them apart.
 */
async function newItemRanks(withTower: boolean): Promise<{ a: number[]; b: number[] }> {
  const genres = Array.from({ length: 41 }, (_, i) => [i < 20 || i === 40 ? 'genre:A' : 'genre:B', `word:w${i % 5}`]);
  const config = (numItems: number): EmbeddingModelConfig => ({ numItems, dim: 8, ...(withTower ? { itemFeatures: itemFeatureTable(genres.slice(0, numItems), 32) } : {}) });
  const before = createEmbeddingModel(config(40));
  let globals = initParams(before.spec, 'global', 1);
  const rng = new SeededRandom(9);
  const people = Array.from({ length: 30 }, (_, u) => {
    const base = u % 2 === 0 ? 0 : 20;
    return { a: u % 2 === 0, history: Int32Array.from(rng.shuffle(Array.from({ length: 20 }, (_, i) => base + i)).slice(0, 8)), locals: initParams(before.spec, 'local', 100 + u) };
  });
  const tc = { localEpochs: 3, batchSize: 8, learningRate: 0.3, negatives: 4, l2: 1e-4 };
  for (let pass = 0; pass < 4; pass++) {
    for (const [u, p] of people.entries()) {
      const res = await trainLocally(before, globals, p.locals, p.history, tc, 1000 * pass + u);
      globals = res.globals;
      p.locals = res.locals;
    }
  }
  // The operator adds item 40: the model grows, its free row and bias start at zero.
  const model = createEmbeddingModel(config(41));
  globals = growGlobals(before.spec, model.spec, globals, 5);
  assert.ok(globals.itemEmbedding.slice(40 * 8, 41 * 8).every((x) => x === 0) && globals.itemBias[40] === 0);
  const rank = (p: (typeof people)[number]) => {
    const scores = model.scoreAll(globals, p.locals, p.history);
    const seen = new Set(p.history);
    let r = 0;
    for (let i = 0; i < 40; i++) if (!seen.has(i) && scores[i] >= scores[40]) r++;
    return r;
  };
  return { a: people.filter((p) => p.a).map(rank), b: people.filter((p) => !p.a).map(rank) };
}

test('the tower scores a new item from its features: in the top 10 of the people whose taste its genre matches, not of the others', async () => {
  const inTop10 = (ranks: number[]) => ranks.filter((r) => r < 10).length / ranks.length;
  const tower = await newItemRanks(true);
  assert.ok(inTop10(tower.a) >= 0.8, `with the tower the new item is in the top 10 of ${inTop10(tower.a)} of taste-A people`);
  assert.ok(inTop10(tower.b) <= 0.2, `with the tower the new item is in the top 10 of ${inTop10(tower.b)} of taste-B people`);
  const plain = await newItemRanks(false);
  assert.ok(inTop10(plain.a) - inTop10(plain.b) < 0.6, `without the tower: A ${inTop10(plain.a)}, B ${inTop10(plain.b)}`);
});
