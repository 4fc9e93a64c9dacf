/**
 * Leave-one-out ranking metrics. Ranks are 0-based: rank 0 means the held-out item
 * scored above every candidate it was compared against.
 */

/** Hit rate at K: 1 when the held-out item is in the top K, else 0. */
export function hitRateAtK(rank: number, k: number): number {
  return rank < k ? 1 : 0;
}

/** NDCG at K with a single relevant item: 1 / log2(rank + 2) inside the top K, else 0. */
export function ndcgAtK(rank: number, k: number): number {
  return rank < k ? 1 / Math.log2(rank + 2) : 0;
}

/**
 * Number of other candidates scoring >= the target. Ties count against the target
 * (pessimistic), so a constant model ranks last instead of first. A NaN target also
 * ranks last, since `NaN >= x` is false and would otherwise look perfect.
 */
export function rankOf(targetScore: number, otherScores: ArrayLike<number>): number {
  if (Number.isNaN(targetScore)) return otherScores.length;
  let rank = 0;
  for (let i = 0; i < otherScores.length; i++) if (otherScores[i] >= targetScore) rank++;
  return rank;
}
