/**
 * The curious coordinator's item scores: from what it received in a round — one person's
 * update, a secure-aggregation sum, or a noised release — a number per item saying how
 * likely that item is in the person's history. An MF update's rows are exactly zero for
 * the items its sender never touched (row-sparse training: only positives and sampled
 * negatives move), and a positive's bias moves up while a sampled negative's moves down.
 *
 * - 'row-norm': ‖(Δ item embedding row, Δ item bias)‖₂ — which rows were touched;
 * - 'bias': Δ item bias, signed — touched AND liked (positive step) vs sampled negative.
 *
 * Works on dense or row-sparse views (shared/update/check-update.ts DeltaTensor).
 */
import { FlockError } from '../errors.ts';
import type { DeltaTensor } from '../update/check-update.ts';

export const MEMBERSHIP_SCORES = ['row-norm', 'bias'] as const;
export type MembershipScore = (typeof MEMBERSHIP_SCORES)[number];

/** The MF GLOBAL tensors an attack reads: item embedding (numItems × dim) and item bias. */
export interface ItemRowsView {
  readonly itemEmbedding: DeltaTensor;
  readonly itemBias: DeltaTensor;
}

/** Adds f(row, value offset) for every stored row of t (every row when dense). */
function forEachRow(t: DeltaTensor, numItems: number, width: number, what: string, f: (row: number, data: Float32Array, offset: number) => void): void {
  if (t instanceof Float32Array) {
    if (t.length !== numItems * width) throw new FlockError('wrong-shape', `membership scores: ${what} has ${t.length} values, expected ${numItems} × ${width}`);
    for (let r = 0; r < numItems; r++) f(r, t, r * width);
    return;
  }
  if (t.data.length !== t.rows.length * width) throw new FlockError('wrong-shape', `membership scores: ${what} has ${t.data.length} values for ${t.rows.length} rows of ${width}`);
  for (let k = 0; k < t.rows.length; k++) {
    const r = t.rows[k];
    if (!(r >= 0 && r < numItems)) throw new FlockError('wrong-shape', `membership scores: ${what} row ${r} outside 0..${numItems - 1}`);
    f(r, t.data, k * width);
  }
}

/** One score per item (Float64Array of numItems; untouched rows score 0). */
export function membershipScores(view: ItemRowsView, numItems: number, dim: number, score: MembershipScore): Float64Array {
  if (!(Number.isInteger(numItems) && numItems > 0 && Number.isInteger(dim) && dim > 0)) throw new FlockError('bad-config', `membership scores: numItems and dim must be positive integers, got ${numItems}, ${dim}`);
  const out = new Float64Array(numItems);
  if (score === 'bias') {
    forEachRow(view.itemBias, numItems, 1, 'itemBias', (r, d, o) => (out[r] = d[o]));
    return out;
  }
  if (score !== 'row-norm') throw new FlockError('bad-config', `unknown membership score '${score as string}': expected one of ${MEMBERSHIP_SCORES.join(', ')}`);
  forEachRow(view.itemEmbedding, numItems, dim, 'itemEmbedding', (r, d, o) => {
    let s = 0;
    for (let x = 0; x < dim; x++) s += d[o + x] * d[o + x];
    out[r] += s;
  });
  forEachRow(view.itemBias, numItems, 1, 'itemBias', (r, d, o) => (out[r] += d[o] * d[o]));
  for (let i = 0; i < numItems; i++) out[i] = Math.sqrt(out[i]);
  return out;
}
