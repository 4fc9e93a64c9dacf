/**
 * Offline evaluation of a recommender on held-out items (one per user), reporting
 * HR@K and NDCG@K under two protocols:
 *
 * - sampled: the held-out item against a list of negatives (He et al., NCF 2017): the
 *   user's fixed list from `candidates` (the research runs: lists fixed per data set,
 *   shared/eval/candidates.ts), or else `negatives` items drawn uniformly from those
 *   outside `train`, seeded per user with deriveSeed(seed, user).
 * - full: the held-out item against every item not in the user's `train` (Krichene &
 *   Rendle 2020 show sampled metrics can mis-rank models, so both are reported).
 *
 * `train` is what is never a candidate: the research runs pass every item the person
 * interacted with (train, validation and test item; the target itself is always kept).
 * Ties count against the target (pessimistic).
 */
import { FlockError } from '../errors.ts';
import { deriveSeed, SeededRandom } from '../random/seeded-random.ts';
import { hitRateAtK, ndcgAtK } from './ranking-metrics.ts';

/**
 * `count` distinct items from [0, numItems) minus `exclude`, uniformly without
 * replacement; all allowed items (in random order) when fewer than `count` remain.
 */
export function sampleNegatives(
  numItems: number,
  exclude: Set<number> | ArrayLike<number>,
  count: number,
  seed: number,
): Int32Array {
  const blocked = new Uint8Array(numItems);
  const ids = exclude instanceof Set ? exclude : Array.from(exclude);
  let available = numItems;
  for (const i of ids) {
    if (i >= 0 && i < numItems && blocked[i] === 0) {
      blocked[i] = 1;
      available--;
    }
  }
  const rng = new SeededRandom(seed);
  const n = Math.max(0, Math.min(count, available));
  const out = new Int32Array(n);
  if (n * 2 <= available) {
    // Few draws relative to the pool: rejection sampling touches only O(n) items.
    for (let got = 0; got < n; ) {
      const i = rng.int(numItems);
      if (blocked[i] === 0) {
        blocked[i] = 1;
        out[got++] = i;
      }
    }
  } else {
    // Dense draw: partial Fisher–Yates over the explicit pool.
    const pool: number[] = [];
    for (let i = 0; i < numItems; i++) if (blocked[i] === 0) pool.push(i);
    for (let j = 0; j < n; j++) {
      const r = j + rng.int(pool.length - j);
      const t = pool[j];
      pool[j] = pool[r];
      pool[r] = t;
      out[j] = pool[j];
    }
  }
  return out;
}

export interface EvaluateRankingOptions {
  numItems: number;
  /** User ids to evaluate. */
  users: ArrayLike<number>;
  /** Held-out item per user id; -1 skips the user. */
  heldOut: Int32Array;
  /** Items per user id never used as candidates (besides the target itself, which always is one). */
  train: readonly Int32Array[];
  /** Scores of all items for a user (length numItems). */
  scoreAll: (user: number) => Float32Array;
  k?: number;
  /** Sampled when there are no `candidates`: how many. */
  negatives?: number;
  /** The user's fixed sampled negatives; without it they are drawn with `seed`. */
  candidates?: (user: number) => ArrayLike<number>;
  /** Seed of the drawn negatives (required without `candidates`). */
  seed?: number;
}

export interface RankingMetrics {
  hr: number;
  ndcg: number;
}

export interface RankingReport {
  sampled: RankingMetrics;
  full: RankingMetrics;
  /** Users that had a held-out item and were averaged over. */
  users: number;
}

export function evaluateRanking(opts: EvaluateRankingOptions): RankingReport {
  const { numItems, users, heldOut, train, scoreAll, seed, candidates } = opts;
  if (!candidates && seed === undefined) throw new FlockError('bad-config', 'evaluateRanking needs fixed candidates or a seed to draw negatives with');
  const k = opts.k ?? 10;
  const numNegatives = opts.negatives ?? 100;
  const inTrain = new Uint8Array(numItems); // reused per user, cleared after each
  let n = 0;
  let sHr = 0, sNdcg = 0, fHr = 0, fNdcg = 0;

  for (let u = 0; u < users.length; u++) {
    const user = users[u];
    const target = heldOut[user];
    if (target === undefined || target < 0) continue;
    const trainItems = train[user] ?? new Int32Array(0);
    const scores = scoreAll(user);
    const t = scores[target];
    // A NaN target ranks last (as in rankOf): a broken model must not look perfect.
    const broken = Number.isNaN(t);

    // Sampled protocol: the fixed list, or negatives drawn outside train and the held-out item itself.
    let negs: ArrayLike<number>;
    if (candidates) negs = candidates(user);
    else {
      const exclude = new Set<number>(trainItems);
      exclude.add(target);
      negs = sampleNegatives(numItems, exclude, numNegatives, deriveSeed(seed!, user));
    }
    let sRank = broken ? negs.length : 0;
    if (!broken) for (let j = 0; j < negs.length; j++) if (scores[negs[j]] >= t) sRank++;

    // Full protocol: every item outside the train set except the target (ties pessimistic).
    for (let j = 0; j < trainItems.length; j++) inTrain[trainItems[j]] = 1;
    let fRank = 0;
    for (let i = 0; i < numItems; i++) {
      if (i === target || inTrain[i] === 1) continue;
      if (broken || scores[i] >= t) fRank++;
    }
    for (let j = 0; j < trainItems.length; j++) inTrain[trainItems[j]] = 0;

    sHr += hitRateAtK(sRank, k);
    sNdcg += ndcgAtK(sRank, k);
    fHr += hitRateAtK(fRank, k);
    fNdcg += ndcgAtK(fRank, k);
    n++;
  }
  const avg = (x: number) => (n === 0 ? 0 : x / n);
  return {
    sampled: { hr: avg(sHr), ndcg: avg(sNdcg) },
    full: { hr: avg(fHr), ndcg: avg(fNdcg) },
    users: n,
  };
}
