import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leaveOneOutSplit } from '../../shared/data/leave-one-out.ts';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { evaluateSplit, prepareEvaluation } from '../../shared/eval/evaluate-split.ts';
import { createEmbeddingModel } from '../../shared/model/embedding-model.ts';
import { initParams } from '../../shared/model/init-params.ts';
import { foldInMfUser, foldInSeed } from '../../shared/train/fold-in.ts';
import { evaluateMf } from './evaluate-mf.ts';

const ds = generateSyntheticDataset({ users: 50, items: 120, seed: 6 });
const split = leaveOneOutSplit(ds);
const dim = 8;
const model = createEmbeddingModel({ numItems: ds.numItems, dim });
const globals = initParams(model.spec, 'global', 1);
const users = new Float32Array(ds.numUsers * dim);
for (let u = 0; u < ds.numUsers; u++) users.set(initParams(model.spec, 'local', 100 + u).userEmbedding, u * dim);
const userSeed = (u: number) => 7000 + u;

test('train+validation: MF folds the validation item into (a copy of) the user vector before scoring the test item', () => {
  const kept = users.slice();
  const setup = prepareEvaluation(split, ds.numItems, { testHistory: 'train+validation' });
  const r = evaluateMf(model, globals, users, dim, setup, userSeed);
  assert.deepEqual(users, kept, 'the stored user vectors are not changed');
  // The same numbers by hand: the participant's fold-in on train ++ [validation], seeded as the participant seeds it.
  const g = { itemEmbedding: globals.itemEmbedding, itemBias: globals.itemBias };
  const byHand = evaluateSplit({
    setup,
    scoreAll: (u, history, which) => {
      const own = users.subarray(u * dim, u * dim + dim);
      const v = which === 'test' && split.validation[u] >= 0 ? foldInMfUser(model, dim, g, own, history, foldInSeed(userSeed(u), history.length)) : own;
      return model.scoreAll(globals, { userEmbedding: v }, history);
    },
  });
  assert.deepEqual(r, byHand);
  // Without the fold-in (test history 'train') the test metrics differ; validation never folds anything in.
  const t = evaluateMf(model, globals, users, dim, prepareEvaluation(split, ds.numItems, { testHistory: 'train' }), userSeed);
  assert.notDeepEqual(t.test, r.test);
  assert.deepEqual(t.validation, r.validation);
});
