import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hypergeometricBelow } from './hypergeometric.ts';
import { scenarioOfRound } from './load-schedule.ts';
import { median, percentile } from './percentiles.ts';

test('load schedule: warm-up, then alternating blocks starting with everyone answering; block 0 never silent', () => {
  const plan = Array.from({ length: 11 }, (_, i) => scenarioOfRound(i + 1, 1, 3));
  assert.deepEqual(plan, ['warmup', 'answer', 'answer', 'answer', 'silent', 'silent', 'silent', 'answer', 'answer', 'answer', 'silent']);
  assert.equal(scenarioOfRound(8, 1, 0), 'answer');
});

test('median and nearest-rank percentiles', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.ok(Number.isNaN(median([])));
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile([5, 1, 9], 99), 9); // fewer than 100 values: the maximum
});

test('hypergeometric lower tail against exact small cases', () => {
  // 10 participants, 5 answer, 3 selected: P(no answer) = C(5,3)/C(10,3) = 10/120.
  assert.ok(Math.abs(hypergeometricBelow(10, 5, 3, 1) - 10 / 120) < 1e-12);
  assert.ok(Math.abs(hypergeometricBelow(10, 5, 3, 4) - 1) < 1e-12);
  assert.equal(hypergeometricBelow(10, 10, 3, 3), 0);
});
