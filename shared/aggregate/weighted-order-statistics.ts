/**
 * Weighted order statistics of one coordinate across a round's updates: the building
 * blocks of the coordinate-wise robust rules (coordinate-trimmed-mean.ts,
 * coordinate-median.ts). Each value carries the weight of its update; a value of weight
 * w counts as w unit masses, so with equal weights these are the textbook statistics.
 * The first `n` entries of `values` / `weights` are used and reordered in place.
 */

/**
 * Sorts the first n (value, weight) pairs by value, in place: the values alone with the
 * engine's numeric sort when every weight is equal, else a quicksort of the pairs
 * (median-of-three pivot, insertion sort below 16 elements; no comparator callbacks).
 */
export function sortPairs(values: Float64Array, weights: Float64Array, n: number): void {
  if (n < 2) return;
  let equal = true;
  for (let i = 1; i < n && equal; i++) equal = weights[i] === weights[0];
  if (equal) {
    if (n <= 16) insertionSort(values, null, 0, n - 1);
    else values.subarray(0, n).sort();
    return;
  }
  quickSortPairs(values, weights, 0, n - 1);
}

function insertionSort(values: Float64Array, weights: Float64Array | null, lo: number, hi: number): void {
  for (let i = lo + 1; i <= hi; i++) {
    const v = values[i];
    const w = weights ? weights[i] : 0;
    let j = i - 1;
    while (j >= lo && values[j] > v) {
      values[j + 1] = values[j];
      if (weights) weights[j + 1] = weights[j];
      j--;
    }
    values[j + 1] = v;
    if (weights) weights[j + 1] = w;
  }
}

function swap(values: Float64Array, weights: Float64Array, i: number, j: number): void {
  const v = values[i];
  values[i] = values[j];
  values[j] = v;
  const w = weights[i];
  weights[i] = weights[j];
  weights[j] = w;
}

function quickSortPairs(values: Float64Array, weights: Float64Array, lo: number, hi: number): void {
  while (hi - lo >= 16) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] < values[lo]) swap(values, weights, mid, lo);
    if (values[hi] < values[lo]) swap(values, weights, hi, lo);
    if (values[hi] < values[mid]) swap(values, weights, hi, mid);
    const pivot = values[mid];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) swap(values, weights, i++, j--);
    }
    // Recurse into the smaller side, loop on the larger: O(log n) stack.
    if (j - lo < hi - i) {
      quickSortPairs(values, weights, lo, j);
      lo = i;
    } else {
      quickSortPairs(values, weights, i, hi);
      hi = j;
    }
  }
  insertionSort(values, weights, lo, hi);
}

/** Whether the first n weights are all equal (then the unweighted O(n) selection applies). */
function equalWeights(weights: Float64Array, n: number): boolean {
  for (let i = 1; i < n; i++) if (weights[i] !== weights[0]) return false;
  return true;
}

/**
 * Hoare's quickselect on values[lo..hi]: afterwards values[k] is the value of rank k in
 * that range, everything left of k is ≤ it and everything right of k ≥ it. O(n) expected.
 */
function select(values: Float64Array, lo: number, hi: number, k: number): void {
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three as pivot.
    const a = values[lo];
    const b = values[mid];
    const c = values[hi];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i++] = values[j];
        values[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return; // j < k < i: values[k] equals the pivot
  }
}

function minOf(values: Float64Array, from: number, to: number): number {
  let m = values[from];
  for (let i = from + 1; i < to; i++) if (values[i] < m) m = values[i];
  return m;
}

/**
 * Weighted trimmed mean: of the total weight W, the lowest trim·W and the highest trim·W
 * of mass are dropped (a boundary value partly) and the remaining (1 − 2·trim)·W averaged.
 * trim in [0, 0.5); trim 0 is the weighted mean. 0 for n = 0.
 */
export function weightedTrimmedMean(values: Float64Array, weights: Float64Array, n: number, trim: number): number {
  if (n === 0) return 0;
  if (n > 16 && equalWeights(weights, n)) {
    // Unit masses: value of rank i covers [i, i + 1); keep [lo, n − lo). Two selections, no sort.
    const lo = trim * n;
    const first = Math.floor(lo);
    const last = Math.min(n - 1, Math.ceil(n - lo) - 1);
    select(values, 0, n - 1, first);
    if (last > first) select(values, first + 1, n - 1, last);
    let sum = 0;
    for (let i = first; i <= last; i++) sum += values[i] * (Math.min(i + 1, n - lo) - Math.max(i, lo));
    return sum / (n - 2 * lo);
  }
  sortPairs(values, weights, n);
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i];
  const lo = trim * total;
  const hi = total - lo;
  let below = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const top = below + weights[i];
    const kept = Math.min(top, hi) - Math.max(below, lo);
    if (kept > 0) sum += values[i] * kept;
    below = top;
  }
  return sum / (hi - lo);
}

/**
 * Weighted median: the value where the cumulative weight reaches half the total; when it
 * reaches exactly half at the end of one value, the midpoint of that value and the next
 * (so equal weights give the textbook median of an even count). 0 for n = 0.
 */
export function weightedMedian(values: Float64Array, weights: Float64Array, n: number): number {
  if (n === 0) return 0;
  if (n > 16 && equalWeights(weights, n)) {
    const k = (n - 1) >> 1;
    select(values, 0, n - 1, k);
    return n % 2 === 1 ? values[k] : (values[k] + minOf(values, k + 1, n)) / 2;
  }
  sortPairs(values, weights, n);
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i];
  const half = total / 2;
  let cum = 0;
  for (let i = 0; i < n; i++) {
    cum += weights[i];
    if (cum === half && i + 1 < n) return (values[i] + values[i + 1]) / 2;
    if (cum >= half) return values[i];
  }
  return values[n - 1];
}
