import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UserSplit } from '../data/interactions.ts';
import { FlockError } from '../errors.ts';
import { evaluateSplit, parseTestHistory, testHistories } from './evaluate-split.ts';

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
  const r = evaluateSplit({ numItems, split, seed: 1, scoreAll: nextItem });
  assert.equal(r.test.users, 1);
  assert.equal(r.validation.users, 1);
  assert.deepEqual([r.test.sampled.hr, r.test.full.hr, r.test.full.ndcg], [1, 1, 1]);
  assert.deepEqual([r.validation.sampled.hr, r.validation.full.ndcg], [1, 1]);
  // The old protocol reads train only: the model predicts item 3, the test item (4)
  // ties with every other candidate at 0 and ranks last (27 candidates: 30 − {1, 2} − 4).
  const old = evaluateSplit({ numItems, split, seed: 1, testHistory: 'train', scoreAll: nextItem });
  assert.deepEqual([old.test.full.hr, old.test.sampled.hr], [0, 0]);
  assert.deepEqual([old.validation.full.hr, old.validation.full.ndcg], [1, 1], 'validation does not depend on the test protocol');
});

test('with train+validation the validation item is no candidate for the test item', () => {
  // The validation item scores 2, the test item 1, everything else 0.
  const scores = (_u: number) => {
    const s = new Float32Array(numItems);
    s[3] = 2;
    s[4] = 1;
    return s;
  };
  const withVal = evaluateSplit({ numItems, split, seed: 1, testHistory: 'train+validation', scoreAll: scores });
  assert.equal(withVal.test.full.ndcg, 1); // rank 0
  const trainOnly = evaluateSplit({ numItems, split, seed: 1, testHistory: 'train', scoreAll: scores });
  assert.equal(trainOnly.test.full.ndcg, 1 / Math.log2(3)); // rank 1: behind the validation item
  // Validation: the test item (a future item) stays a candidate, but scores below.
  assert.equal(withVal.validation.full.ndcg, 1);
});

test('parseTestHistory rejects unknown protocols with a FlockError', () => {
  assert.equal(parseTestHistory('train'), 'train');
  assert.throws(() => parseTestHistory('all'), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
});
