import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { DeltaTensors } from '../update/check-update.ts';
import { decodeUpdate, encodeUpdate, toWireTensors } from '../update/tensor-codec.ts';
import { DEFAULT_WEIGHTING, type AggregationSettings, type CombineRule, type WeightingPolicy } from './aggregation-settings.ts';
import { RoundAggregation } from './round-aggregation.ts';
import { StreamingWeightedMean } from './streaming-weighted-mean.ts';

const spec: ModelSpec = {
  kind: 'test',
  params: [
    { name: 'emb', shape: [4, 2], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'dense', shape: [1], scope: 'global', init: { kind: 'zeros' } },
    { name: 'user', shape: [2], scope: 'local', init: { kind: 'zeros' } },
  ],
};

const uniform: WeightingPolicy = { kind: 'uniform' };
const settings = (combine: CombineRule, over: Partial<AggregationSettings> = {}): AggregationSettings => ({
  weighting: uniform, combine, clipNorm: 1000, rowNormalize: true, ...over,
});
const rows = (r: number[], data: number[]) => ({ rows: Int32Array.from(r), data: Float32Array.from(data) });
const delta = (embRows: number[], emb: number[], dense: number): DeltaTensors => ({ emb: rows(embRows, emb), dense: Float32Array.of(dense) });
const list = (t: NamedTensors) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Array.from(v)]));

/** Five clients: three touch item row 0, one row 1, one no item; the dense value 100 is an outlier. */
const five: DeltaTensors[] = [
  delta([0], [1, 10], 1),
  delta([0], [3, 30], 2),
  delta([0], [5, 50], 100),
  delta([1], [7, -7], 3),
  delta([], [], 4),
];

function combine(rule: CombineRule, updates: DeltaTensors[], over: Partial<AggregationSettings> = {}, numExamples: number[] = []): NamedTensors {
  const agg = new RoundAggregation(spec, settings(rule, over));
  updates.forEach((d, i) => agg.addDelta(d, numExamples[i] ?? 1));
  return agg.result();
}

test('mean: the weighted mean over the clients that touched each row, as StreamingWeightedMean', () => {
  assert.deepEqual(list(combine({ kind: 'mean' }, five)), { emb: [3, 30, 7, -7, 0, 0, 0, 0], dense: [22] });
  const ref = new StreamingWeightedMean(spec, { rowNormalize: false });
  five.forEach((d) => ref.addRows(d, 1));
  assert.deepEqual(combine({ kind: 'mean' }, five, { rowNormalize: false }), ref.mean());
});

test('median: per coordinate over the clients that touched the row; without rowNormalize the untouched count as 0', () => {
  assert.deepEqual(list(combine({ kind: 'median' }, five)), { emb: [3, 30, 7, -7, 0, 0, 0, 0], dense: [3] });
  // Row 0: {1, 3, 5, 0, 0} → 1 and {10, 30, 50, 0, 0} → 10; row 1: {7, 0, 0, 0, 0} → 0.
  assert.deepEqual(list(combine({ kind: 'median' }, five, { rowNormalize: false })), { emb: [1, 10, 0, 0, 0, 0, 0, 0], dense: [3] });
  // Weighted (examples-capped:3, claims 1, 1, 5, 1, 1): row 0 {1 (w1), 3 (w1), 5 (w3)} → 5;
  // dense {1, 2, 3, 4 (w1 each), 100 (w3)}: half of 7 is reached at 4.
  assert.deepEqual(
    list(combine({ kind: 'median' }, five, { weighting: { kind: 'examples-capped', cap: 3 } }, [1, 1, 5, 1, 1])),
    { emb: [5, 50, 7, -7, 0, 0, 0, 0], dense: [4] },
  );
});

test('trimmed mean: β of the weight trimmed at each end of every coordinate', () => {
  // dense {1, 2, 3, 4, 100}, trim 0.2 → mean of {2, 3, 4}; row 0 over 3 clients: 0.6 of a value trimmed at each end.
  const t = combine({ kind: 'trimmed-mean', trim: 0.2 }, five);
  assert.deepEqual(list(t), { emb: [3, 30, 7, -7, 0, 0, 0, 0], dense: [3] });
  const skewed = [delta([0], [0, 0.5], 0), delta([0], [1, 0.5], 0), delta([0], [10, 0.5], 0)];
  // W = 3, keep mass [0.6, 2.4]: 0 × 0.4 + 1 × 1 + 10 × 0.4 over 1.8.
  assert.ok(Math.abs(combine({ kind: 'trimmed-mean', trim: 0.2 }, skewed).emb[0] - 5 / 1.8) < 1e-6);
  assert.equal(combine({ kind: 'trimmed-mean', trim: 0 }, skewed).emb[0], Math.fround(11 / 3));
});

test('centered clipping: hand-checked iterations, dense and per touched row', () => {
  const d = [delta([], [], 0.2), delta([], [], 0.2), delta([], [], 1)];
  // From 0, radius 0.5: pulls 0.2, 0.2, 0.5 → 0.3; then −0.1, −0.1, min(0.7, 0.5) → 0.3 + 0.3/3 = 0.4.
  assert.equal(combine({ kind: 'centered-clipping', radius: 0.5, iterations: 1 }, d).dense[0], Math.fround(0.3));
  assert.equal(combine({ kind: 'centered-clipping', radius: 0.5, iterations: 2 }, d).dense[0], Math.fround(0.4));
  // A radius at or above every update's norm: one iteration is the mean.
  assert.deepEqual(combine({ kind: 'centered-clipping', radius: 1000, iterations: 1 }, five), combine({ kind: 'mean' }, five));
  // Row-sparse: client 1 is at distance 5 ([3, 4] on its touched row): pulled with 1/5; client 2 touched no row.
  const r = combine({ kind: 'centered-clipping', radius: 1, iterations: 1 }, [delta([0], [3, 4], 0), delta([], [], 0)]);
  assert.deepEqual(list(r), { emb: [Math.fround(0.6), Math.fround(0.8), 0, 0, 0, 0, 0, 0], dense: [0] });
  // The default radius is half the clip bound.
  const half = combine({ kind: 'centered-clipping', iterations: 1 }, d, { clipNorm: 1 });
  assert.equal(half.dense[0], Math.fround(0.3));
});

test('weighting: a claim of 10⁷ examples gets a bounded share (default policy, examples-capped:64, and the old unbounded weight)', () => {
  const run = (weighting: WeightingPolicy) => {
    const agg = new RoundAggregation(spec, settings({ kind: 'mean' }, { weighting, clipNorm: 1 }));
    const weights = Array.from({ length: 10 }, () => agg.addDelta(delta([], [], 1), 20).weight);
    const attacker = agg.addDelta(delta([], [], -1), 1e7).weight;
    return { weights, attacker, share: attacker / agg.totalWeight, dense: agg.result().dense[0] };
  };
  // The default: no participant weighs more than the cap (or 1), however much it claims.
  const d = run(DEFAULT_WEIGHTING);
  const bound = DEFAULT_WEIGHTING.kind === 'uniform' ? 1 / 11 : DEFAULT_WEIGHTING.cap / (DEFAULT_WEIGHTING.cap + 10);
  assert.ok(d.share <= bound + 1e-12 && bound < 0.9, `share ${d.share}`);
  assert.ok(d.dense > 0, 'the honest majority still sets the direction');
  const u = run(uniform);
  assert.deepEqual([u.attacker, ...u.weights], Array(11).fill(1));
  assert.ok(Math.abs(u.dense - 9 / 11) < 1e-6);
  const c = run({ kind: 'examples-capped', cap: 64 });
  assert.deepEqual([c.attacker, ...c.weights], [64, ...Array(10).fill(20)]);
  assert.ok(Math.abs(c.share - 64 / 264) < 1e-12 && Math.abs(c.dense - 136 / 264) < 1e-6);
  // The old pipeline (weight = the claim): the attacker owns 99.998 % of the round.
  const old = run({ kind: 'examples-capped', cap: 1e7 });
  assert.ok(old.share > 0.9999 && old.dense < -0.999);
});

test('bound: an update inside the validation tolerance but above the clip bound is scaled to the bound', () => {
  const over = 1 + 5e-6; // accepted: the float32 clip tolerance is 1e-5
  const agg = new RoundAggregation(spec, settings({ kind: 'mean' }, { clipNorm: 1 }));
  agg.addDelta(delta([2], [0.6 * over, 0], 0.8 * over), 1);
  const r = agg.result();
  const norm = Math.hypot(...r.emb, ...r.dense);
  assert.ok(norm <= 1 + 1e-7 && norm > 1 - 1e-6, `norm ${norm}`);
  assert.ok(Math.abs(r.emb[4] - 0.6) < 1e-7 && Math.abs(r.dense[0] - 0.8) < 1e-7);
  // Beyond the tolerance it is refused, not clipped.
  assert.throws(() => agg.addDelta(delta([2], [0.6 * 1.001, 0], 0.8 * 1.001), 1), (e: unknown) => e instanceof FlockError && e.code === 'over-bound');
});

const rules: CombineRule[] = [
  { kind: 'mean' },
  { kind: 'trimmed-mean', trim: 0.2 },
  { kind: 'median' },
  { kind: 'centered-clipping', radius: 0.3, iterations: 2 },
];

for (const rule of rules) {
  test(`${rule.kind}: a refused update changes nothing (validation, claims, memory bound)`, () => {
    const s = settings(rule, { clipNorm: 1, weighting: { kind: 'examples-capped', cap: 5 } });
    const good = [delta([0], [0.1, 0.2], 0.3), delta([0, 3], [0.2, 0, -0.1, 0.1], -0.2), delta([1], [0.5, -0.5], 0.1)];
    const ref = new RoundAggregation(spec, s);
    good.forEach((d, i) => ref.addDelta(d, i + 1));
    const agg = new RoundAggregation(spec, s, { maxUpdates: 4 });
    good.forEach((d, i) => agg.addDelta(d, i + 1));
    const full = new RoundAggregation(spec, s, { maxUpdates: 3 });
    good.forEach((d, i) => full.addDelta(d, i + 1));
    const bad: [string, () => unknown, string][] = [
      ['non-finite', () => agg.addDelta(delta([0], [NaN, 0], 0), 1), 'non-finite'],
      ['over the bound', () => agg.addDelta(delta([0], [2, 0], 0), 1), 'over-bound'],
      ['dense length', () => agg.addDelta({ emb: new Float32Array(7), dense: Float32Array.of(0) }, 1), 'wrong-shape'],
      ['rows unsorted', () => agg.addDelta({ emb: rows([2, 1], [0, 0, 0, 0]), dense: Float32Array.of(0) }, 1), 'wrong-shape'],
      ['row out of range', () => agg.addDelta({ emb: rows([4], [0, 0]), dense: Float32Array.of(0) }, 1), 'wrong-shape'],
      ['missing tensor', () => agg.addDelta({ emb: rows([], []) }, 1), 'wrong-shape'],
      ['local tensor', () => agg.addDelta({ ...delta([], [], 0), user: new Float32Array(2) }, 1), 'wrong-shape'],
      ['zero examples', () => agg.addDelta(delta([], [], 0), 0), 'malformed'],
      ['fractional examples', () => agg.addDelta(delta([], [], 0), 1.5), 'malformed'],
      ['more than 10⁷ examples', () => agg.addDelta(delta([], [], 0), 1e7 + 1), 'malformed'],
    ];
    for (const [what, fn, code] of bad) {
      assert.throws(fn, (e: unknown) => e instanceof FlockError && e.code === code && e.message.length > 10, what);
      assert.equal(agg.count, 3, what);
      assert.equal(agg.totalWeight, 6, what);
    }
    assert.deepEqual(agg.result(), ref.result());
    assert.throws(() => full.addDelta(delta([], [], 0), 1), (e: unknown) => e instanceof FlockError && e.code === 'too-large', 'a fourth update with maxUpdates 3');
    assert.equal(full.count, 3);
    assert.deepEqual(full.result(), ref.result());
  });

  test(`${rule.kind}: a decoded wire update (dense or row-sparse) combines exactly as the in-memory delta`, () => {
    const rnd = new SeededRandom(rule.kind.length);
    const s = settings(rule, { clipNorm: 0.6, weighting: { kind: 'examples-capped', cap: 4 } });
    const fromDelta = new RoundAggregation(spec, s);
    const fromDense = new RoundAggregation(spec, s);
    const fromSparse = new RoundAggregation(spec, s);
    for (let c = 0; c < 12; c++) {
      const emb = new Float32Array(8);
      for (let r = 0; r < 4; r++) if (rnd.next() < 0.5) for (let j = 0; j < 2; j++) emb[r * 2 + j] = rnd.normal() * 0.1;
      const dense = Float32Array.of(rnd.normal() * 0.1);
      const n = 1 + rnd.int(8);
      fromDelta.addDelta({ emb, dense }, n);
      for (const [agg, sparseRows] of [[fromDense, false], [fromSparse, true]] as const) {
        const bytes = encodeUpdate({ round: 1, baseVersion: 0, numExamples: n, preClipNorm: 0, tensors: toWireTensors(spec, { emb, dense }, { sparseRows }) });
        const w = agg.add(decodeUpdate(bytes)).weight;
        assert.equal(w, Math.min(n, 4));
      }
    }
    assert.deepEqual(fromDense.result(), fromDelta.result());
    assert.deepEqual(fromSparse.result(), fromDelta.result());
  });
}

test('the rules that keep updates refuse beyond their default memory bound; the streaming mean has none', () => {
  const median = new RoundAggregation(spec, settings({ kind: 'median' }), { maxUpdates: 2 });
  median.addDelta(delta([], [], 0), 1);
  median.addDelta(delta([], [], 0), 1);
  assert.throws(() => median.addDelta(delta([], [], 0), 1), (e: unknown) => e instanceof FlockError && e.code === 'too-large' && /maxUpdates/.test(e.message));
  const mean = new RoundAggregation(spec, settings({ kind: 'mean' }));
  for (let i = 0; i < 2000; i++) mean.addDelta(delta([], [], 0), 1);
  assert.equal(mean.count, 2000);
});

test('no update, bad settings: FlockError', () => {
  assert.throws(() => new RoundAggregation(spec, settings({ kind: 'mean' })).result(), (e: unknown) => e instanceof FlockError && /no update/.test(e.message));
  assert.throws(() => new RoundAggregation(spec, settings({ kind: 'trimmed-mean', trim: 0.5 })), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
  assert.throws(() => new RoundAggregation(spec, settings({ kind: 'mean' }, { clipNorm: 0 })), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
  assert.throws(() => new RoundAggregation(spec, settings({ kind: 'mean' }, { weighting: { kind: 'examples-capped', cap: -1 } })), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
});

test('without rowNormalize every rule is the textbook rule on the densified updates (untouched rows are zeros)', () => {
  const rnd = new SeededRandom(21);
  const n = 9;
  const dense: Float32Array[] = [];
  const weights: number[] = [];
  const agg = (rule: CombineRule) => new RoundAggregation(spec, settings(rule, { rowNormalize: false, clipNorm: 10, weighting: { kind: 'examples-capped', cap: 3 } }));
  const aggs = rules.map((rule) => [rule, agg(rule)] as const);
  for (let c = 0; c < n; c++) {
    const x = new Float32Array(9); // emb (8) ++ dense (1)
    for (let r = 0; r < 4; r++) if (rnd.next() < 0.4) for (let j = 0; j < 2; j++) x[r * 2 + j] = rnd.normal();
    x[8] = rnd.normal();
    const numExamples = 1 + rnd.int(5);
    dense.push(x);
    weights.push(Math.min(numExamples, 3));
    for (const [, a] of aggs) a.addDelta({ emb: x.slice(0, 8), dense: x.slice(8) }, numExamples);
  }
  const W = weights.reduce((s, w) => s + w, 0);
  const coordinate = (stat: (v: Float64Array, w: Float64Array, n: number) => number) =>
    Array.from({ length: 9 }, (_, i) => stat(Float64Array.from(dense, (x) => x[i]), Float64Array.from(weights), n));
  const sorted = (i: number) => dense.map((x, k) => [x[i], weights[k]]).sort((a, b) => a[0] - b[0]);
  const expected: Record<string, number[]> = {
    mean: coordinate((v, w) => v.reduce((s, x, k) => s + x * w[k], 0) / W),
    'trimmed-mean': Array.from({ length: 9 }, (_, i) => {
      let below = 0;
      let sum = 0;
      for (const [x, w] of sorted(i)) {
        sum += x * Math.max(0, Math.min(below + w, 0.8 * W) - Math.max(below, 0.2 * W));
        below += w;
      }
      return sum / (0.6 * W);
    }),
    median: Array.from({ length: 9 }, (_, i) => {
      let cum = 0;
      const s = sorted(i);
      for (let k = 0; k < s.length; k++) {
        cum += s[k][1];
        if (cum === W / 2) return (s[k][0] + s[k + 1][0]) / 2;
        if (cum > W / 2) return s[k][0];
      }
      return NaN;
    }),
    'centered-clipping': (() => {
      let v = new Float64Array(9);
      for (let it = 0; it < 2; it++) {
        const next = v.slice();
        dense.forEach((x, k) => {
          const d = Array.from(x, (xi, i) => xi - v[i]);
          const c = Math.min(1, 0.3 / Math.hypot(...d));
          d.forEach((di, i) => (next[i] += (weights[k] * c * di) / W));
        });
        v = next;
      }
      return Array.from(v);
    })(),
  };
  for (const [rule, a] of aggs) {
    const r = a.result();
    const got = [...r.emb, ...r.dense];
    got.forEach((g, i) => assert.ok(Math.abs(g - expected[rule.kind][i]) < 1e-5, `${rule.kind}[${i}]: ${g} vs ${expected[rule.kind][i]}`));
  }
});
