/**
 * Applies a per-coordinate statistic (trimmed mean, median) across a round's stored
 * updates — and decides what "across the updates" means for row-sparse embedding tables.
 *
 * Dense parameters: coordinate i combines the n values u₁[i] … uₙ[i], each with its
 * update's weight.
 *
 * rowSparse parameters (embedding tables): a client's update changes only the rows of
 * the items it touched (positives and sampled negatives); for any one item row, most of
 * a round's clients hold exactly 0 — "no opinion", not "keep it at 0". A coordinate-wise
 * median over all n clients would then be 0 for every row touched by fewer than half of
 * them (in ML-100K, all but the most popular items), so the item table would stop
 * learning; a trimmed mean over all clients is the diluted plain mean with the few real
 * values trimmed away first. So, with rowNormalize (the default, as for the mean), the
 * statistic of row r is taken over only the updates that touched r (a non-zero value in
 * the row), each with its weight; rows nobody touched stay 0. This is the robust
 * counterpart of the row-normalised mean (mean over the clients that touched the row).
 * Its limit: a row touched by k honest clients is only as robust as a k-client round — a
 * rare item's row can be set by one attacker (within the clip bound), and an attacker that
 * touches every row with tiny values gets a vote in every row. Without rowNormalize, the
 * untouched clients count as one value 0 carrying their summed weight (the textbook
 * coordinate-wise rule over all n clients).
 */
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { elementCount } from '../tensor/named-tensors.ts';
import type { RowSparseTensor } from '../update/row-sparse-clip.ts';
import type { StoredUpdates } from './stored-updates.ts';

/** Combines the first n (value, weight) pairs into one value (may reorder them). */
export type CoordinateStatistic = (values: Float64Array, weights: Float64Array, n: number) => number;

export function combineCoordinateWise(stored: StoredUpdates, rowNormalize: boolean, statistic: CoordinateStatistic): NamedTensors {
  const out: NamedTensors = {};
  const updates = stored.updates;
  const values = new Float64Array(updates.length + 1);
  const weights = new Float64Array(updates.length + 1);
  // One row's touching updates: their data, where the row starts in it, their weight.
  const rowData: Float32Array[] = new Array(updates.length);
  const rowBase = new Int32Array(updates.length);
  const rowWeight = new Float64Array(updates.length);
  stored.params.forEach((p, pi) => {
    const size = elementCount(p.shape);
    const o = new Float32Array(size);
    out[p.name] = o;
    if (!p.rowSparse) {
      for (let i = 0; i < size; i++) {
        for (let k = 0; k < updates.length; k++) {
          values[k] = (updates[k].tensors[pi] as Float32Array)[i];
          weights[k] = updates[k].weight;
        }
        o[i] = statistic(values, weights, updates.length);
      }
      return;
    }
    const numRows = p.shape[0] ?? 1;
    const width = size / numRows;
    const { start, update, position } = stored.rowIndex(pi);
    for (let r = 0; r < numRows; r++) {
      const m = start[r + 1] - start[r];
      if (m === 0) continue;
      let touchedWeight = 0;
      for (let e = start[r], k = 0; e < start[r + 1]; e++, k++) {
        const u = updates[update[e]];
        rowData[k] = (u.tensors[pi] as RowSparseTensor).data;
        rowBase[k] = position[e] * width;
        rowWeight[k] = u.weight;
        touchedWeight += u.weight;
      }
      // Untouched clients' summed weight (float slack below 1e-12 of the total is none).
      const zeroMass = rowNormalize ? 0 : stored.totalWeight - touchedWeight;
      const n = zeroMass > stored.totalWeight * 1e-12 ? m + 1 : m;
      for (let j = 0; j < width; j++) {
        for (let k = 0; k < m; k++) {
          values[k] = rowData[k][rowBase[k] + j];
          weights[k] = rowWeight[k];
        }
        if (n > m) {
          values[m] = 0;
          weights[m] = zeroMass;
        }
        o[r * width + j] = statistic(values, weights, n);
      }
    }
  });
  return out;
}
