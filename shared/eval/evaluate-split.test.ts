import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UserSplit } from '../data/interactions.ts';
import { leaveOneOutSplit } from '../data/leave-one-out.ts';
import { generateSyntheticDataset } from '../data/synthetic-dataset.ts';
import { FlockError } from '../errors.ts';
import { candidatesOf, sampleCandidates } from './candidates.ts';
import { evaluateSplit, parseTestHistory, prepareEvaluation, testHistories, type HeldOutKind } from './evaluate-split.ts';

const numItems = 30;
// user 0: train 1, 2 → validation 3 → test 4; user 1: too few items, not evaluated.
const split: UserSplit = {
  train: [Int32Array.of(1, 2), Int32Array.of(7)],
  validation: Int32Array.of(3, -1),
  test: Int32Array.of(4, -1),
};
/** A perfect next-item model: scores only the item after the last one read. */
const nextItem = (_u: number, history: Int32Array) => {
  const s = new Float32Array(numItems);
  s[history[history.length - 1] + 1] = 1;
  return s;
};

test('testHistories appends the validation item (users without one keep train)', () => {
  const h = testHistories(split, 'train+validation');
  assert.deepEqual(h[0], Int32Array.of(1, 2, 3));
  assert.equal(h[1], split.train[1]);
  assert.equal(testHistories(split, 'train'), split.train);
});

test('SASRec protocol: the test item is scored after train ++ [validation]; validation after train', () => {
  const r = evaluateSplit({ setup: prepareEvaluation(split, numItems), scoreAll: nextItem });
  assert.equal(r.test.users, 1);
  assert.equal(r.validation.users, 1);
  assert.deepEqual([r.test.sampled.hr, r.test.full.hr, r.test.full.ndcg], [1, 1, 1]);
  assert.deepEqual([r.validation.sampled.hr, r.validation.full.ndcg], [1, 1]);
  // Reading train only, the model predicts item 3 (the validation item, never a candidate):
  // the test item (4) ties with every other candidate at 0 and ranks last
  // (26 items the person never interacted with: 30 − {1, 2, 3, 4}).
  const old = evaluateSplit({ setup: prepareEvaluation(split, numItems, { testHistory: 'train' }), scoreAll: nextItem });
  assert.deepEqual([old.test.full.hr, old.test.sampled.hr], [0, 0]);
  assert.deepEqual([old.validation.full.hr, old.validation.full.ndcg], [1, 1], 'validation does not depend on the test protocol');
});

test('the other held-out item is never a candidate: not for the test item, not for the validation item, under both test histories', () => {
  // The validation item scores 2, the test item 1, everything else 0.
  const scores = () => {
    const s = new Float32Array(numItems);
    s[3] = 2;
    s[4] = 1;
    return s;
  };
  for (const testHistory of ['train+validation', 'train'] as const) {
    const r = evaluateSplit({ setup: prepareEvaluation(split, numItems, { testHistory }), scoreAll: scores });
    assert.equal(r.test.full.ndcg, 1, `${testHistory}: the validation item does not count against the test item`); // rank 0
    assert.equal(r.test.sampled.ndcg, 1);
  }
  // Validation: the test item scores above it, but it is a known positive, not a candidate.
  const reversed = () => {
    const s = new Float32Array(numItems);
    s[3] = 1;
    s[4] = 2;
    return s;
  };
  const v = evaluateSplit({ setup: prepareEvaluation(split, numItems), scoreAll: reversed });
  assert.equal(v.validation.full.ndcg, 1);
  assert.equal(v.validation.sampled.ndcg, 1);
});

test('scoreAll is told which held-out item it scores for, with the history of that protocol', () => {
  const seen: [number, number[], HeldOutKind][] = [];
  evaluateSplit({
    setup: prepareEvaluation(split, numItems),
    scoreAll: (u, h, which) => {
      seen.push([u, [...h], which]);
      return new Float32Array(numItems);
    },
  });
  assert.deepEqual(seen, [[0, [1, 2, 3], 'test'], [0, [1, 2], 'validation']]);
});

test('sampled metrics rank against the fixed lists, and the same lists whatever the caller', () => {
  const ds = generateSyntheticDataset({ users: 60, items: 300, seed: 4 });
  const s = leaveOneOutSplit(ds);
  const setup = prepareEvaluation(s, ds.numItems);
  // A model that puts exactly the listed test negatives of user u above everything: sampled rank = list length.
  const scoreAll = (u: number, _h: Int32Array, which: HeldOutKind) => {
    const sc = new Float32Array(ds.numItems);
    for (const i of candidatesOf(which === 'test' ? setup.candidates.test : setup.candidates.validation, u)) sc[i] = 1;
    return sc;
  };
  const r = evaluateSplit({ setup, scoreAll });
  assert.equal(r.test.sampled.hr, 0, 'every listed negative outranks the target');
  assert.ok(r.test.full.hr === 0);
  // Another setup of the same split gets the same lists.
  assert.deepEqual(prepareEvaluation(s, ds.numItems, { testHistory: 'train' }).candidates, setup.candidates);
});

test('prepareEvaluation refuses candidates of another split', () => {
  const ds = generateSyntheticDataset({ users: 40, items: 80, seed: 1 });
  const other = generateSyntheticDataset({ users: 40, items: 80, seed: 2 });
  const c = sampleCandidates(leaveOneOutSplit(other), other.numItems);
  assert.throws(
    () => prepareEvaluation(leaveOneOutSplit(ds), ds.numItems, { candidates: c }),
    (e: unknown) => e instanceof FlockError && e.code === 'bad-data' && /another split/.test(e.message),
  );
});

test('parseTestHistory rejects unknown protocols with a FlockError', () => {
  assert.equal(parseTestHistory('train'), 'train');
  assert.throws(() => parseTestHistory('all'), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
});
