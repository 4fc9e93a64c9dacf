import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import type { CapturedUpdate } from './membership-attack-round.ts';
import { secAggCohortSum, secAggRunnerAvailable } from './membership-attack-secagg.ts';
import { cohortSum } from './membership-attack-views.ts';

test('the secure-aggregation view: the protocol\'s decoded cohort sum equals the direct sum within fixed-point precision', () => {
  assert.ok(secAggRunnerAvailable());
  const numItems = 12;
  const dim = 3;
  const rng = new SeededRandom(4);
  const updates: CapturedUpdate[] = Array.from({ length: 5 }, (_, user) => {
    const rows = Int32Array.from([...new Set(Array.from({ length: 5 }, () => rng.int(numItems)))].sort((a, b) => a - b));
    return {
      user,
      numExamples: 1,
      itemEmbedding: { rows, data: Float32Array.from({ length: rows.length * dim }, () => (rng.next() - 0.5) * 0.4) },
      itemBias: { rows, data: Float32Array.from({ length: rows.length }, () => (rng.next() - 0.5) * 0.4) },
    };
  });
  const members = [0, 2, 3, 4];
  const viaProtocol = secAggCohortSum(updates, members, numItems, dim, 1, 7);
  const direct = cohortSum(updates, members, numItems, dim);
  for (const name of ['itemEmbedding', 'itemBias']) {
    const a = viaProtocol.get(name)!;
    const b = direct.get(name)!;
    assert.equal(a.length, b.length);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    assert.ok(worst < 1e-6, `${name}: protocol sum off by ${worst}`);
  }
  // Person 1 is not in the cohort: its rows must not be in the sum.
  const without = cohortSum(updates, [0, 2, 3, 4, 1], numItems, dim).get('itemBias')!;
  assert.ok(without.some((x, i) => Math.abs(x - viaProtocol.get('itemBias')![i]) > 1e-3));
});
