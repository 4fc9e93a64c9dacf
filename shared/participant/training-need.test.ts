import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dataFingerprint, hasNewData } from './training-need.ts';
import type { StoredInteraction } from './participant-store.ts';

const likes: StoredInteraction[] = [
  { item: 3, rating: 1, kind: 'click', timestamp: 1 },
  { item: 7, rating: 4, kind: 'rating', timestamp: 2 },
];

test('new until an update is accepted; then only new interactions or a new version are new', () => {
  const fp = dataFingerprint(likes);
  assert.equal(hasNewData(null, fp, 5), true);
  const last = { baseVersion: 5, dataFingerprint: fp };
  assert.equal(hasNewData(last, fp, 5), false, 'same data, same version: nothing new');
  assert.equal(hasNewData(last, fp, null), false, 'version not known yet: only the data decides');
  assert.equal(hasNewData(last, fp, 6), true, 'a version it has not trained on');
  assert.equal(hasNewData(last, dataFingerprint([...likes, { item: 9, rating: 1, kind: 'click', timestamp: 3 }]), 5), true, 'a new like');
  assert.equal(hasNewData(last, dataFingerprint(likes.slice(1)), 5), true, 'an unlike');
});

test('the fingerprint changes with any interaction field', () => {
  const fp = dataFingerprint(likes);
  assert.notEqual(dataFingerprint([{ ...likes[0], rating: 2 }, likes[1]]), fp);
  assert.notEqual(dataFingerprint([{ ...likes[0], timestamp: 9 }, likes[1]]), fp);
  assert.equal(dataFingerprint(likes.map((l) => ({ ...l }))), fp);
});
