import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset } from './interactions.ts';
import { leaveOneOutSplit } from './leave-one-out.ts';

const ds = (numUsers: number, rows: [user: number, item: number, t: number][]): Dataset => ({
  name: 'hand',
  numUsers,
  numItems: 10,
  interactions: rows.map(([user, item, timestamp]) => ({ user, item, rating: 1, timestamp })),
  titles: [],
});

test('last by time is test, the one before validation, the rest train', () => {
  // User 0 out of order in the input; items 5 and 6 tie at t=20 and keep input order.
  // User 1 has only 2 items: all train. User 2 repeats item 1: the latest one counts.
  const split = leaveOneOutSplit(
    ds(3, [
      [0, 3, 40], [0, 1, 10], [0, 5, 20], [0, 6, 20], [0, 2, 30],
      [1, 7, 1], [1, 8, 2],
      [2, 1, 1], [2, 2, 2], [2, 3, 3], [2, 1, 4],
    ]),
  );
  assert.deepEqual([...split.train[0]], [1, 5, 6]);
  assert.equal(split.validation[0], 2);
  assert.equal(split.test[0], 3);
  assert.deepEqual([...split.train[1]], [7, 8]);
  assert.equal(split.validation[1], -1);
  assert.equal(split.test[1], -1);
  assert.deepEqual([...split.train[2]], [2]);
  assert.equal(split.validation[2], 3);
  assert.equal(split.test[2], 1);
});

test('without validation two items are enough and validation stays -1', () => {
  const split = leaveOneOutSplit(ds(2, [[0, 4, 2], [0, 9, 1], [1, 3, 5]]), { validation: false });
  assert.deepEqual([...split.train[0]], [9]);
  assert.equal(split.test[0], 4);
  assert.equal(split.validation[0], -1);
  assert.deepEqual([...split.train[1]], [3]);
  assert.equal(split.test[1], -1);
});
