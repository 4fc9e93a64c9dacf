import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hitRateAtK, ndcgAtK, rankOf } from './ranking-metrics.ts';

test('hit rate and NDCG for known ranks', () => {
  assert.equal(hitRateAtK(0, 10), 1);
  assert.equal(hitRateAtK(9, 10), 1);
  assert.equal(hitRateAtK(10, 10), 0);
  assert.equal(ndcgAtK(0, 10), 1);
  assert.equal(ndcgAtK(2, 10), 0.5);
  assert.equal(ndcgAtK(6, 10), 1 / 3);
  assert.equal(ndcgAtK(10, 10), 0);
});

test('rankOf counts others scoring at least the target (ties pessimistic)', () => {
  assert.equal(rankOf(0.9, [0.1, 0.5, 0.2]), 0);
  assert.equal(rankOf(0.3, new Float32Array([0.1, 0.5, 0.3, 0.7])), 3);
  assert.equal(rankOf(1, [1, 1, 1]), 3, 'a constant model ranks last');
  assert.equal(rankOf(NaN, [0, 1]), 2, 'a NaN score ranks last');
});
