import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateRanking, sampleNegatives } from './evaluate-ranking.ts';

test('sampleNegatives is seeded, distinct and never returns excluded items', () => {
  const exclude = new Set([0, 3, 7, 8]);
  const a = sampleNegatives(50, exclude, 20, 42);
  assert.deepEqual(a, sampleNegatives(50, [0, 3, 7, 8], 20, 42), 'Set and array give the same draw');
  assert.notDeepEqual(a, sampleNegatives(50, exclude, 20, 43));
  assert.equal(a.length, 20);
  assert.equal(new Set(a).size, 20);
  for (const i of a) assert.ok(i >= 0 && i < 50 && !exclude.has(i));
  // Asking for more than remain returns every allowed item once.
  const all = sampleNegatives(10, [1, 2], 100, 1);
  assert.deepEqual([...all].sort((x, y) => x - y), [0, 3, 4, 5, 6, 7, 8, 9]);
});

test('a model that scores the held-out item highest gets HR 1 and NDCG 1', () => {
  const numItems = 200;
  const users = [0, 1, 2];
  const heldOut = Int32Array.from([5, 17, -1]); // user 2 is skipped
  const train = [Int32Array.from([1, 2]), Int32Array.from([3]), Int32Array.from([])];
  const report = evaluateRanking({
    numItems, users, heldOut, train, seed: 9,
    scoreAll: (u) => {
      const s = new Float32Array(numItems).fill(0.1);
      s[heldOut[u]] = 1;
      return s;
    },
  });
  assert.deepEqual(report, { sampled: { hr: 1, ndcg: 1 }, full: { hr: 1, ndcg: 1 }, users: 2 });
});

test('known ranks give known HR and NDCG; train items are not candidates', () => {
  const numItems = 20;
  // Score = item id, so an item's full rank = number of higher non-train ids.
  const scoreAll = () => Float32Array.from({ length: numItems }, (_, i) => i);
  const report = evaluateRanking({
    numItems,
    users: [0, 1],
    // User 0 holds out 19 (rank 0). User 1 holds out 15: higher ids 16..19, of which
    // 16 and 18 are train, so the full rank is 2 (NDCG 0.5).
    heldOut: Int32Array.from([19, 15]),
    train: [Int32Array.from([0]), Int32Array.from([16, 18])],
    scoreAll,
    k: 10,
    negatives: 100, // more than there are: every non-train item, so sampled = full
    seed: 1,
  });
  assert.equal(report.users, 2);
  assert.deepEqual(report.full, { hr: 1, ndcg: (1 + 0.5) / 2 });
  assert.deepEqual(report.full, report.sampled);
});

test('a constant model does not look good, and negatives are fixed per run', () => {
  const numItems = 500;
  const users = Array.from({ length: 50 }, (_, u) => u);
  const heldOut = Int32Array.from(users, (u) => u);
  const train = users.map((u) => Int32Array.from([u + 100]));
  const constant = evaluateRanking({ numItems, users, heldOut, train, seed: 2, scoreAll: () => new Float32Array(numItems) });
  assert.equal(constant.sampled.hr, 0);
  assert.equal(constant.full.hr, 0);

  // Same seed → same negatives → same sampled metrics for a fixed arbitrary model.
  const arbitrary = (u: number) => Float32Array.from({ length: numItems }, (_, i) => ((i * 7919 + u * 31) % 1000) / 1000);
  const a = evaluateRanking({ numItems, users, heldOut, train, seed: 2, negatives: 20, scoreAll: arbitrary });
  const b = evaluateRanking({ numItems, users, heldOut, train, seed: 2, negatives: 20, scoreAll: arbitrary });
  assert.deepEqual(a, b);
  assert.ok(a.sampled.hr > 0 && a.sampled.hr < 1, `sampled HR ${a.sampled.hr}`);
});

test('fixed candidates replace the drawn negatives; without candidates or seed it refuses', () => {
  const numItems = 50;
  const scoreAll = () => Float32Array.from({ length: numItems }, (_, i) => i); // score = item id
  const base = { numItems, users: [0], heldOut: Int32Array.of(20), train: [Int32Array.of(1)], scoreAll };
  // Listed negatives 30..39 all outrank item 20: rank 10, a miss; 0..9 all rank below: a hit.
  const above = evaluateRanking({ ...base, candidates: () => Int32Array.from({ length: 10 }, (_, j) => 30 + j) });
  assert.equal(above.sampled.hr, 0);
  const below = evaluateRanking({ ...base, candidates: () => Int32Array.from({ length: 10 }, (_, j) => j + 2) });
  assert.deepEqual(below.sampled, { hr: 1, ndcg: 1 });
  assert.equal(above.full.hr, below.full.hr, 'full ranking does not read the lists');
  assert.throws(() => evaluateRanking(base), /candidates or a seed/);
});
