import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import { createEmbeddingModel } from './embedding-model.ts';
import { canGrow, growGlobals, growMoments } from './grow-item-tables.ts';
import { initParams } from './init-params.ts';
import { createSequenceModel } from './sasrec-model.ts';

const seq = (numItems: number) => createSequenceModel({ numItems, dim: 8, maxLen: 4, blocks: 1, heads: 2, dropout: 0 }).spec;

test('SASRec grows its item table: old rows and every other parameter carried over, new rows drawn from the initialiser', () => {
  const from = seq(10);
  const to = seq(13);
  const globals = initParams(from, 'global', 1);
  const grown = growGlobals(from, to, globals, 7);
  for (const p of to.params.filter((q) => q.scope === 'global')) {
    if (p.name === 'itemEmbedding') continue;
    assert.deepEqual(grown[p.name], globals[p.name], p.name);
  }
  assert.deepEqual(grown.itemEmbedding.subarray(0, 80), globals.itemEmbedding);
  const fresh = grown.itemEmbedding.subarray(80);
  assert.equal(fresh.length, 24);
  assert.ok(fresh.some((x) => x !== 0), 'new rows are not zero');
  const std = Math.sqrt(fresh.reduce((s, x) => s + x * x, 0) / fresh.length);
  const initStd = (to.params.find((p) => p.name === 'itemEmbedding')!.init as { std: number }).std;
  assert.ok(std > initStd / 3 && std < initStd * 3, `new rows' spread ${std} against the initialiser's ${initStd}`);
});

test('MF grows with zero rows; moments are zero-padded; any change but more rows is refused with a typed error', () => {
  const from = createEmbeddingModel({ numItems: 5, dim: 2 }).spec;
  const to = createEmbeddingModel({ numItems: 7, dim: 2 }).spec;
  const grown = growGlobals(from, to, initParams(from, 'global', 1), 3);
  assert.deepEqual([...grown.itemEmbedding.subarray(10)], [0, 0, 0, 0]);
  const moments = growMoments(to, { step: Float32Array.of(4), 'm/itemEmbedding': new Float32Array(10).fill(1), 'm/itemBias': new Float32Array(5).fill(2) });
  assert.deepEqual([...moments['m/itemEmbedding']], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual([...moments['m/itemBias']], [2, 2, 2, 2, 2, 0, 0]);
  assert.deepEqual([...moments.step], [4]);
  const otherDim = createEmbeddingModel({ numItems: 7, dim: 3 }).spec;
  assert.equal(canGrow(from, otherDim), false);
  assert.equal(canGrow(to, from), false, 'a catalog never shrinks');
  assert.throws(() => growGlobals(from, otherDim, initParams(from, 'global', 1), 3), (e: unknown) => e instanceof FlockError && e.code === 'wrong-shape');
  assert.throws(() => growMoments(from, { 'm/itemEmbedding': new Float32Array(14) }), (e: unknown) => e instanceof FlockError && e.code === 'wrong-shape');
});
