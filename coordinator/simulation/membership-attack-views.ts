/**
 * What the curious coordinator receives in one round, per setting — one function each —
 * from the same captured client updates (membership-attack-round.ts):
 *
 * - plain:               each person's own clipped row-sparse Δ;
 * - secure aggregation:  only the SUM of the updates of the person's cohort of n;
 * - DP, no secure aggregation: the individual clipped updates again — DP-FedAvg's
 *   central noise (shared/aggregate/dp-fedavg.ts) is added by the coordinator AFTER it
 *   has read them, so it does not protect against the coordinator;
 * - DP release:          (Σ cohort Δ + N(0, (z·C)²)) / m over every coordinate
 *   (noisedMean, the pipeline's own noise stage): what anyone reading the released model
 *   sees. With secure aggregation and central DP the coordinator unmasks the sum before
 *   adding the noise, so it sees the secure-aggregation view, not this one.
 *
 * Cohorts: the round's clients are shuffled (seeded) and cut into consecutive cohorts of
 * n; a remainder shorter than n joins the last cohort (so every person is scored).
 */
import { noisedMean } from '../../shared/aggregate/dp-fedavg.ts';
import type { ItemRowsView } from '../../shared/attack/membership-scores.ts';
import { FlockError } from '../../shared/errors.ts';
import { seededGaussianNoise } from '../../shared/random/gaussian-noise.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import type { CapturedUpdate } from './membership-attack-round.ts';

/** What the coordinator holds about each person: view(k) is what it scores person k's items from. */
export interface CoordinatorView {
  /** The sizes of the cohorts whose sums were received (one per person for plain). */
  readonly cohortSizes: readonly number[];
  /** The view that person `updates[k]` is scored from (shared between the members of a cohort). */
  readonly viewOf: (k: number) => ItemRowsView;
}

/** Plain: the person's own update (and likewise DP without secure aggregation). */
export function plainView(updates: readonly CapturedUpdate[]): CoordinatorView {
  return { cohortSizes: updates.map(() => 1), viewOf: (k) => updates[k] };
}

/** Indices 0..count−1 cut into cohorts of n after a seeded shuffle; a short remainder joins the last cohort. */
export function cohortsOf(count: number, n: number, seed: number): number[][] {
  if (!(Number.isInteger(n) && n >= 1)) throw new FlockError('bad-config', `cohort size must be a positive integer, got ${n}`);
  if (count < n) throw new FlockError('bad-config', `a cohort of ${n} needs at least ${n} updates in the round, got ${count}`);
  const order = new SeededRandom(seed).shuffle([...Array(count).keys()]);
  const cohorts: number[][] = [];
  for (let a = 0; a + n <= count; a += n) cohorts.push(order.slice(a, a + n));
  const rest = order.slice(cohorts.length * n);
  cohorts[cohorts.length - 1].push(...rest);
  return cohorts;
}

/** The dense float64 sum of a cohort's row-sparse updates: embedding (numItems × dim) and bias. */
export function cohortSum(updates: readonly CapturedUpdate[], members: readonly number[], numItems: number, dim: number): Map<string, Float64Array> {
  const emb = new Float64Array(numItems * dim);
  const bias = new Float64Array(numItems);
  for (const k of members) {
    const { itemEmbedding: e, itemBias: b } = updates[k];
    for (let r = 0; r < e.rows.length; r++) {
      const dst = e.rows[r] * dim;
      for (let d = 0; d < dim; d++) emb[dst + d] += e.data[r * dim + d];
    }
    for (let r = 0; r < b.rows.length; r++) bias[b.rows[r]] += b.data[r];
  }
  return new Map([['itemEmbedding', emb], ['itemBias', bias]]);
}

const asFloat32 = (sum: Map<string, Float64Array>): ItemRowsView => ({
  itemEmbedding: Float32Array.from(sum.get('itemEmbedding')!),
  itemBias: Float32Array.from(sum.get('itemBias')!),
});

/** Shares one view per cohort among its members. */
function perCohort(updates: readonly CapturedUpdate[], cohorts: readonly number[][], build: (members: readonly number[], index: number) => ItemRowsView): CoordinatorView {
  const cohortOf = new Int32Array(updates.length);
  cohorts.forEach((c, i) => c.forEach((k) => (cohortOf[k] = i)));
  const cache = new Map<number, ItemRowsView>();
  return {
    cohortSizes: cohorts.map((c) => c.length),
    viewOf: (k) => {
      const i = cohortOf[k];
      let v = cache.get(i);
      if (!v) {
        // Keep one cohort's dense view at a time (people are scored cohort by cohort).
        cache.clear();
        cache.set(i, (v = build(cohorts[i], i)));
      }
      return v;
    },
  };
}

/**
 * Secure aggregation: what the coordinator unmasks is the cohort's sum. `sum` is the
 * protocol's result for the cohort (default: the plain sum computed here — the value the
 * protocol decodes, to within its fixed-point precision).
 */
export function secureAggregationView(
  updates: readonly CapturedUpdate[],
  cohorts: readonly number[][],
  numItems: number,
  dim: number,
  sum: (members: readonly number[]) => Map<string, Float64Array> = (members) => cohortSum(updates, members, numItems, dim),
): CoordinatorView {
  return perCohort(updates, cohorts, (members) => asFloat32(sum(members)));
}

/**
 * The DP release of each cohort: (Σ Δ + N(0, (z·C)²)) / m with m = the cohort size the
 * plan expects, noise seeded per cohort from `seed` (research runs only).
 */
export function dpReleaseView(
  updates: readonly CapturedUpdate[],
  cohorts: readonly number[][],
  numItems: number,
  dim: number,
  dp: { readonly noiseMultiplier: number; readonly clipNorm: number; readonly expectedCohort: number; readonly seed: number },
): CoordinatorView {
  return perCohort(updates, cohorts, (members, i) => {
    const released = noisedMean(cohortSum(updates, members, numItems, dim), dp.clipNorm, dp.noiseMultiplier, dp.expectedCohort, seededGaussianNoise((dp.seed + i * 0x9e3779b1) >>> 0));
    return { itemEmbedding: released.delta.itemEmbedding, itemBias: released.delta.itemBias };
  });
}
