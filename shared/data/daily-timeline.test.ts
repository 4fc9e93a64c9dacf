import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import { dailyTimeline, SECONDS_PER_DAY } from './daily-timeline.ts';
import type { Dataset } from './interactions.ts';

const at = (day: number, s = 0) => 1_000_000 + day * SECONDS_PER_DAY + s;
const dataset = (interactions: Dataset['interactions']): Dataset => ({ name: 't', numUsers: 3, numItems: 5, interactions, titles: ['a', 'b', 'c', 'd', 'e'] });

test('days from the first timestamp, items renumbered by first appearance, the existing items a prefix', () => {
  const tl = dailyTimeline(
    dataset([
      { user: 1, item: 4, rating: 1, timestamp: at(2, 5) },
      { user: 0, item: 3, rating: 1, timestamp: at(0) },
      { user: 0, item: 1, rating: 1, timestamp: at(0) }, // same second: item 1 before item 3
      { user: 2, item: 3, rating: 1, timestamp: at(2, 1) },
      { user: 0, item: 3, rating: 1, timestamp: at(2, 2) }, // repeat of (0, 3): dropped
    ]),
  );
  assert.equal(tl.days.length, 3);
  assert.deepEqual(Array.from(tl.originalItem), [1, 3, 4], 'item 0 and 2 never occur; 1 and 3 tie on day 0 and go by id');
  assert.deepEqual(Array.from(tl.days[0].users), [0, 0]);
  assert.deepEqual(Array.from(tl.days[0].items), [0, 1]);
  assert.equal(tl.days[1].users.length, 0);
  assert.deepEqual(Array.from(tl.days[2].users), [2, 1]);
  assert.deepEqual(Array.from(tl.days[2].items), [1, 2]);
  assert.deepEqual(Array.from(tl.itemsBy), [2, 2, 3]);
  assert.deepEqual(Array.from(tl.firstDayOfItem), [0, 0, 2]);
  assert.equal(tl.numItems, 3);
});

test('a data set without interactions or with a non-finite timestamp is refused', () => {
  assert.throws(() => dailyTimeline(dataset([])), (e: unknown) => e instanceof FlockError && e.code === 'bad-data');
  assert.throws(() => dailyTimeline(dataset([{ user: 0, item: 0, rating: 1, timestamp: NaN }])), (e: unknown) => e instanceof FlockError && e.code === 'bad-data');
});
