import { FlockError } from '../errors.ts';

/**
 * Top-K retrieval, written once for the web app's scoring worker, the participant, the
 * simulations and the latency bench: the k best items in order, excluding some (the
 * person's own history, retired items). Ties go to the lower item id; NaN scores never
 * rank. O(n·k) with k small (a sorted insertion buffer), no sort of the whole catalog.
 */

/** Item vectors to score against a query: score_i = bias_i + ⟨vectors_i, query⟩. */
export interface ItemTable {
  /** numItems × dim, row-major. */
  readonly vectors: Float32Array;
  readonly dim: number;
  /** Per-item additive score (the embedding model's item bias); null when the model has none. */
  readonly bias: Float32Array | null;
}

/** A 0/1 mask over the catalog, 1 = never return this item. */
export function exclusionMask(numItems: number, ...lists: Iterable<number>[]): Uint8Array {
  const mask = new Uint8Array(numItems);
  for (const list of lists) for (const i of list) if (Number.isInteger(i) && i >= 0 && i < numItems) mask[i] = 1;
  return mask;
}

/** A sorted insertion buffer of the k best (score, id) pairs seen so far. */
class Best {
  readonly ids: Int32Array;
  readonly scores: Float64Array;
  size = 0;
  constructor(readonly k: number) {
    this.ids = new Int32Array(k);
    this.scores = new Float64Array(k);
  }
  /** Offers items in ascending id order: an equal score never displaces an earlier (lower) id. */
  offer(id: number, score: number): void {
    const { k, ids, scores } = this;
    if (!(score === score)) return; // NaN
    if (this.size === k && !(score > scores[k - 1])) return;
    let pos = this.size < k ? this.size++ : k - 1;
    while (pos > 0 && score > scores[pos - 1]) {
      ids[pos] = ids[pos - 1];
      scores[pos] = scores[pos - 1];
      pos--;
    }
    ids[pos] = id;
    scores[pos] = score;
  }
  result(): number[] {
    return Array.from(this.ids.subarray(0, this.size));
  }
}

function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 0) throw new FlockError('malformed', `top-k needs a non-negative integer k, got ${k}`);
}

function checkMask(mask: Uint8Array | null, numItems: number): void {
  if (mask && mask.length !== numItems) throw new FlockError('wrong-shape', `exclusion mask has ${mask.length} entries for ${numItems} items`);
}

/** The k highest-scoring items not excluded, best first. */
export function topKOfScores(scores: ArrayLike<number>, k: number, excluded: Uint8Array | null = null): number[] {
  checkK(k);
  checkMask(excluded, scores.length);
  const best = new Best(k);
  if (k === 0) return [];
  for (let i = 0; i < scores.length; i++) if (!excluded || excluded[i] === 0) best.offer(i, scores[i]);
  return best.result();
}

/**
 * The k items with the highest bias_i + ⟨vectors_i, query⟩, not excluded, best first,
 * without materialising the score vector.
 */
export function topKByDot(table: ItemTable, query: Float32Array, k: number, excluded: Uint8Array | null = null): number[] {
  checkK(k);
  const { vectors, dim, bias } = table;
  if (!Number.isInteger(dim) || dim < 1 || vectors.length % dim !== 0) {
    throw new FlockError('wrong-shape', `item table of ${vectors.length} values is not a whole number of rows of ${dim}`);
  }
  const n = vectors.length / dim;
  if (query.length !== dim) throw new FlockError('wrong-shape', `query has ${query.length} values, the item vectors ${dim}`);
  if (bias && bias.length !== n) throw new FlockError('wrong-shape', `item bias has ${bias.length} values for ${n} items`);
  checkMask(excluded, n);
  if (k === 0) return [];
  const best = new Best(k);
  for (let i = 0; i < n; i++) {
    if (excluded && excluded[i] !== 0) continue;
    const row = i * dim;
    let s = 0;
    for (let d = 0; d < dim; d++) s += vectors[row + d] * query[d];
    best.offer(i, bias ? bias[i] + s : s);
  }
  return best.result();
}
