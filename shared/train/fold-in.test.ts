import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { useNodeBackend } from '../../coordinator/runtime/node-tf-backend.ts';
import { createEmbeddingModel } from '../model/embedding-model.ts';
import { initParams } from '../model/init-params.ts';
import { FOLD_IN, foldIn, foldInMfUser, foldInSeed } from './fold-in.ts';

const numItems = 90;
const dim = 8;
const model = createEmbeddingModel({ numItems, dim });
const globals = initParams(model.spec, 'global', 3);
globals.itemBias = Float32Array.from({ length: numItems }, (_, i) => Math.cos(i) * 0.2);
const locals = initParams(model.spec, 'local', 4);
// 70 positives: batches of 64 and 6 under FOLD_IN.
const history = Int32Array.from({ length: 70 }, (_, i) => (i * 11) % numItems);

before(async () => {
  await useNodeBackend('wasm');
});

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

for (const [name, cfg] of [
  ['the participant\'s fold-in', FOLD_IN],
  ['gradient accumulation over 2 micro-batches of 16, l2 0.01', { ...FOLD_IN, localEpochs: 2, batchSize: 16, accumulationSteps: 2, l2: 0.01 }],
] as const) {
  test(`typed-array MF fold-in equals the tfjs fold-in (trainLocally, LOCAL only) within 1e-5 (${name})`, async () => {
    const seed = foldInSeed(12345, history.length);
    const ref = await foldIn(model, globals, locals, history, seed, cfg);
    const before = { items: globals.itemEmbedding.slice(), bias: globals.itemBias.slice(), user: locals.userEmbedding.slice() };
    const fast = foldInMfUser(model, dim, { itemEmbedding: globals.itemEmbedding, itemBias: globals.itemBias }, locals.userEmbedding, history, seed, cfg);
    assert.ok(maxAbsDiff(fast, ref.locals.userEmbedding) < 1e-5, `max diff ${maxAbsDiff(fast, ref.locals.userEmbedding)}`);
    assert.ok(maxAbsDiff(fast, locals.userEmbedding) > 1e-3, 'the user vector moved');
    // The global weights are frozen (tfjs returns them unchanged; here they are read in place) and the input vector is untouched.
    assert.deepEqual(ref.globals.itemEmbedding, globals.itemEmbedding);
    assert.deepEqual(globals.itemEmbedding, before.items);
    assert.deepEqual(globals.itemBias, before.bias);
    assert.deepEqual(locals.userEmbedding, before.user);
  });
}

test('the fold-in is seeded, and an empty history leaves the vector as it is', () => {
  const g = { itemEmbedding: globals.itemEmbedding, itemBias: globals.itemBias };
  const a = foldInMfUser(model, dim, g, locals.userEmbedding, history, 1);
  assert.deepEqual(foldInMfUser(model, dim, g, locals.userEmbedding, history, 1), a);
  assert.notDeepEqual(foldInMfUser(model, dim, g, locals.userEmbedding, history, 2), a);
  assert.deepEqual(foldInMfUser(model, dim, g, locals.userEmbedding, new Int32Array(0), 1), locals.userEmbedding);
});
