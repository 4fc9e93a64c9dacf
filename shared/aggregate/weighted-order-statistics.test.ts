import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRandom } from '../random/seeded-random.ts';
import { sortPairs, weightedMedian, weightedTrimmedMean } from './weighted-order-statistics.ts';

const f = (xs: number[]) => Float64Array.from(xs);
const ones = (n: number) => new Float64Array(n).fill(1);

test('trimmed mean: equal weights drop β·n values at each end', () => {
  assert.equal(weightedTrimmedMean(f([100, 2, 4, 1, 3]), ones(5), 5, 0.2), 3);
  assert.equal(weightedTrimmedMean(f([100, 2, 4, 1, 3]), ones(5), 5, 0), 22);
  // β·n = 0.5: half of the lowest and half of the highest value are dropped.
  assert.equal(weightedTrimmedMean(f([0, 10, 20, 30, 40]), ones(5), 5, 0.1), (0.5 * 0 + 10 + 20 + 30 + 0.5 * 40) / 4);
  assert.equal(weightedTrimmedMean(f([]), ones(0), 0, 0.1), 0);
});

test('trimmed mean: a heavy value is trimmed by its weight, not escaped by being one entry', () => {
  // Total weight 10, trim 0.2: 2 units dropped at each end — the values 1 and 2 below, and
  // 2 of the heavy 50's 4 units above; kept: 3 ×2, 4 ×2, 50 ×2.
  assert.equal(weightedTrimmedMean(f([1, 2, 3, 4, 50]), f([1, 1, 2, 2, 4]), 5, 0.2), (3 * 2 + 4 * 2 + 50 * 2) / 6);
});

test('median: odd, even, weighted and tied cumulative weight', () => {
  assert.equal(weightedMedian(f([3, 1, 2]), ones(3), 3), 2);
  assert.equal(weightedMedian(f([4, 1, 3, 2]), ones(4), 4), 2.5);
  assert.equal(weightedMedian(f([1, 2, 3]), f([1, 1, 3]), 3), 3);
  assert.equal(weightedMedian(f([1, 2, 3]), f([1, 1, 2]), 3), 2.5);
  assert.equal(weightedMedian(f([7]), f([5]), 1), 7);
  assert.equal(weightedMedian(f([]), ones(0), 0), 0);
});

test('sortPairs keeps each weight with its value, for small, equal-weight and large weighted inputs', () => {
  const rnd = new SeededRandom(11);
  for (const n of [0, 1, 5, 16, 17, 40, 300]) {
    for (const equal of [true, false]) {
      const v = Float64Array.from({ length: n }, () => Math.round(rnd.normal() * 5) + 0); // + 0: no −0, which deepEqual tells from 0
      const w = Float64Array.from({ length: n }, (_, i) => (equal ? 2 : 1 + ((Math.abs(v[i]) * 7) % 5)));
      const pairs = [...v].map((x, i) => [x, w[i]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      sortPairs(v, w, n);
      const got = [...v].map((x, i) => [x, w[i]]);
      for (let i = 1; i < n; i++) assert.ok(v[i - 1] <= v[i]);
      assert.deepEqual(got.sort((a, b) => a[0] - b[0] || a[1] - b[1]), pairs);
    }
  }
});

test('weighted statistics equal the unweighted ones on the data with each value repeated weight times', () => {
  const rnd = new SeededRandom(5);
  for (let trial = 0; trial < 50; trial++) {
    const n = 1 + rnd.int(40);
    const v = Float64Array.from({ length: n }, () => rnd.normal());
    const w = Float64Array.from({ length: n }, () => 1 + rnd.int(4));
    const expanded = Float64Array.from([...v].flatMap((x, i) => Array(w[i]).fill(x)));
    const m = expanded.length;
    const trim = [0, 0.1, 0.25, 0.4][trial % 4];
    const a = weightedTrimmedMean(v.slice(), w.slice(), n, trim);
    const b = weightedTrimmedMean(expanded.slice(), ones(m), m, trim);
    assert.ok(Math.abs(a - b) < 1e-9, `trimmed mean ${a} vs ${b}`);
    assert.equal(weightedMedian(v.slice(), w.slice(), n), weightedMedian(expanded.slice(), ones(m), m));
  }
});

test('equal weights (selection, no sort) give exactly the sorted-order statistics, ties and all', () => {
  const rnd = new SeededRandom(17);
  const reference = (xs: number[], trim: number) => {
    const s = [...xs].sort((a, b) => a - b);
    const n = s.length;
    const lo = trim * n;
    let sum = 0;
    s.forEach((x, i) => (sum += x * Math.max(0, Math.min(i + 1, n - lo) - Math.max(i, lo))));
    const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    return { trimmed: sum / (n - 2 * lo), median };
  };
  for (let trial = 0; trial < 200; trial++) {
    const n = 17 + rnd.int(200);
    const xs = Array.from({ length: n }, () => (trial % 3 === 0 ? rnd.int(4) : rnd.normal()));
    const trim = [0, 0.05, 0.1, 0.25, 0.45][trial % 5];
    const ref = reference(xs, trim);
    const w = new Float64Array(n).fill(3);
    const t = weightedTrimmedMean(Float64Array.from(xs), w, n, trim);
    assert.ok(Math.abs(t - ref.trimmed) < 1e-9, `trimmed n=${n} trim=${trim}: ${t} vs ${ref.trimmed}`);
    assert.equal(weightedMedian(Float64Array.from(xs), w, n), ref.median, `median n=${n}`);
  }
});
