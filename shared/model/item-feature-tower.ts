/**
 * The item feature tower: an item's vector is its free embedding row plus the mean of
 * the GLOBAL feature embeddings of its features, and its bias likewise,
 *
 *   v_i = E_i + (1/|F_i|) Σ_{f ∈ F_i} W_f,    b_i = c_i + (1/|F_i|) Σ_{f ∈ F_i} a_f
 *
 * with F_i the item's features hashed into `buckets` ids (a multi-hot, normalised to
 * mean), W [buckets, dim] and a [buckets] dense GLOBAL parameters the federated rounds
 * learn like the rest (cf. the hybrid / content-based factor models of Stern et al.,
 * "Matchbox", WWW 2009; the hashing trick of Weinberger et al., ICML 2009). A new item
 * starts with E_i = 0 and c_i = 0: it is scored from its features alone until it
 * has been interacted with.
 *
 * The feature table travels in the model descriptor (compressed sparse rows: item i's
 * feature ids are ids[offsets[i]..offsets[i+1]]), so every participant scores and
 * trains with the same features.
 */
import { FlockError } from '../errors.ts';
import { hashString } from '../random/seeded-random.ts';

/** Hashed features of every item, as compressed sparse rows. */
export interface ItemFeatureTable {
  /** Number of hash buckets (rows of the feature embedding). */
  buckets: number;
  /** numItems + 1 offsets into `ids`, non-decreasing, offsets[0] = 0. */
  offsets: number[];
  /** Feature ids in [0, buckets), sorted and distinct per item. */
  ids: number[];
}

/** The most features one item may carry (admin input is refused above it). */
export const MAX_FEATURES_PER_ITEM = 16;

/** The default number of hash buckets of the tower. */
export const DEFAULT_FEATURE_BUCKETS = 512;

/** A feature name's bucket. Names are normalised (trimmed, lower case) first. */
export const featureBucket = (name: string, buckets: number): number => (hashString(name.trim().toLowerCase()) >>> 0) % buckets;

/** Distinct sorted buckets of one item's feature names (at most MAX_FEATURES_PER_ITEM names kept, in order). */
export function featureIds(names: readonly string[], buckets: number): number[] {
  const ids = new Set<number>();
  for (const n of names.slice(0, MAX_FEATURES_PER_ITEM)) ids.add(featureBucket(n, buckets));
  return [...ids].sort((a, b) => a - b);
}

/** The feature table of a catalog: one list of feature names per item. */
export function itemFeatureTable(features: readonly (readonly string[])[], buckets = DEFAULT_FEATURE_BUCKETS): ItemFeatureTable {
  const offsets = [0];
  const ids: number[] = [];
  for (const names of features) {
    ids.push(...featureIds(names, buckets));
    offsets.push(ids.length);
  }
  return { buckets, offsets, ids };
}

/** Number of items a table describes. */
export const tableItems = (t: ItemFeatureTable): number => t.offsets.length - 1;

/** A typed 'bad-config' error unless the table is well formed for `numItems` items. */
export function checkItemFeatureTable(t: ItemFeatureTable, numItems: number): void {
  const bad = (why: string) => new FlockError('bad-config', `item feature table: ${why}`);
  if (!Number.isInteger(t.buckets) || t.buckets < 1 || t.buckets > 65536) throw bad(`buckets must be an integer in [1, 65536], got ${t.buckets}`);
  if (t.offsets.length !== numItems + 1) throw bad(`needs ${numItems + 1} offsets for ${numItems} items, got ${t.offsets.length}`);
  if (t.offsets[0] !== 0 || t.offsets[numItems] !== t.ids.length) throw bad('offsets must start at 0 and end at the number of ids');
  for (let i = 0; i < numItems; i++) {
    const a = t.offsets[i];
    const b = t.offsets[i + 1];
    if (!Number.isInteger(a) || !(b >= a) || b - a > MAX_FEATURES_PER_ITEM) throw bad(`item ${i} has a bad feature range`);
  }
  for (const f of t.ids) if (!Number.isInteger(f) || f < 0 || f >= t.buckets) throw bad(`feature id ${f} outside [0, ${t.buckets})`);
}

/**
 * Adds the tower's part to item vectors and biases in place:
 * vectors[i] += mean W_f, bias[i] += mean a_f over the item's features.
 */
export function addTower(t: ItemFeatureTable, W: Float32Array, a: Float32Array, dim: number, vectors: Float32Array, bias: Float32Array): void {
  const n = tableItems(t);
  for (let i = 0; i < n; i++) {
    const start = t.offsets[i];
    const end = t.offsets[i + 1];
    if (end === start) continue;
    const w = 1 / (end - start);
    const row = i * dim;
    for (let k = start; k < end; k++) {
      const f = t.ids[k];
      bias[i] += w * a[f];
      const fr = f * dim;
      for (let d = 0; d < dim; d++) vectors[row + d] += w * W[fr + d];
    }
  }
}

/**
 * The features of a batch of items, padded to a common width: ids [items × width]
 * (padding points at bucket 0) and weights [items × width] (1/|F_i|, 0 for padding), so
 * a batch's tower vectors are sum_k weights[·,k] · W[ids[·,k]] with one gather.
 */
export function paddedBatchFeatures(t: ItemFeatureTable, items: ArrayLike<number>): { ids: Int32Array; weights: Float32Array; width: number } {
  let width = 1;
  for (let k = 0; k < items.length; k++) width = Math.max(width, t.offsets[items[k] + 1] - t.offsets[items[k]]);
  const ids = new Int32Array(items.length * width);
  const weights = new Float32Array(items.length * width);
  for (let k = 0; k < items.length; k++) {
    const start = t.offsets[items[k]];
    const count = t.offsets[items[k] + 1] - start;
    for (let j = 0; j < count; j++) {
      ids[k * width + j] = t.ids[start + j];
      weights[k * width + j] = 1 / count;
    }
  }
  return { ids, weights, width };
}
