import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset } from './interactions.ts';
import { leaveOneOutSplit } from './leave-one-out.ts';
import { generateSyntheticDataset } from './synthetic-dataset.ts';

const ds = (numUsers: number, rows: [user: number, item: number, t: number][]): Dataset => ({
  name: 'hand',
  numUsers,
  numItems: 10,
  interactions: rows.map(([user, item, timestamp]) => ({ user, item, rating: 1, timestamp })),
  titles: [],
});

test('last by time is test, the one before validation, the rest train', () => {
  // User 0 out of order in the input; items 6 and 5 tie at t=20: by item id, 5 then 6.
  // User 1 has only 2 items: all train. User 2 repeats item 1: the latest one counts.
  const split = leaveOneOutSplit(
    ds(3, [
      [0, 3, 40], [0, 1, 10], [0, 6, 20], [0, 5, 20], [0, 2, 30],
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

test('same-timestamp ties: the larger item id is the later one, whatever the line order', () => {
  // Items 4 and 2 at t=9 (the last second): 4 is the test item, 2 the validation item.
  const rows: [number, number, number][] = [[0, 7, 1], [0, 4, 9], [0, 2, 9], [0, 8, 5]];
  for (const order of [rows, [...rows].reverse()]) {
    const split = leaveOneOutSplit(ds(1, order));
    assert.deepEqual([...split.train[0]], [7, 8]);
    assert.equal(split.validation[0], 2);
    assert.equal(split.test[0], 4);
  }
});

test('the split does not depend on the order of the data file (synthetic data with coarse timestamps)', () => {
  const base = generateSyntheticDataset({ users: 200, items: 120, seed: 13, meanInteractionsPerUser: 15 });
  // Round timestamps to a day so many interactions tie, as MovieLens' same-second ratings do.
  const day = 86_400;
  const coarse = base.interactions.map((it) => ({ ...it, timestamp: Math.floor(it.timestamp / day) * day }));
  const ties = new Set(coarse.map((it) => `${it.user}:${it.timestamp}`)).size < coarse.length;
  assert.ok(ties, 'the coarse clock has ties');
  const a = leaveOneOutSplit({ ...base, interactions: coarse });
  const b = leaveOneOutSplit({ ...base, interactions: [...coarse].reverse() });
  assert.deepEqual(b.test, a.test);
  assert.deepEqual(b.validation, a.validation);
  assert.deepEqual(b.train, a.train);
  // And the held-out items are the latest by (timestamp, item id).
  for (let u = 0; u < base.numUsers; u++) {
    if (a.test[u] < 0) continue;
    const mine = coarse.filter((it) => it.user === u);
    const last = mine.reduce((x, y) => (y.timestamp > x.timestamp || (y.timestamp === x.timestamp && y.item > x.item) ? y : x));
    assert.equal(a.test[u], last.item);
  }
});
