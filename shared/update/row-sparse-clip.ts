import { FlockError } from '../errors.ts';

/**
 * A row-sparse tensor: `data` holds rows.length × width values for the listed rows
 * (strictly increasing); every other row is 0. The in-memory twin of a row-sparse
 * WireTensor, used where a client's update touches only a few embedding rows.
 */
export interface RowSparseTensor {
  readonly rows: Int32Array;
  readonly data: Float32Array;
}

/**
 * clipToL2 (l2-clip.ts) for row-sparse tensors: the same norm (float64 sum of squares
 * over all tensors, in the same order, zero rows adding nothing), the same
 * min(1, bound / ‖t‖₂) scaling in float32. Returns new arrays; the input is not mutated.
 */
export function clipRowSparseToL2(
  t: Readonly<Record<string, RowSparseTensor>>,
  bound: number,
): { tensors: Record<string, RowSparseTensor>; preClipNorm: number; clipped: boolean } {
  if (!Number.isFinite(bound) || bound <= 0) throw new FlockError('bad-config', `clip bound must be a positive finite number, got ${bound}`);
  let sum = 0;
  for (const v of Object.values(t)) for (let i = 0; i < v.data.length; i++) sum += v.data[i] * v.data[i];
  const preClipNorm = Math.sqrt(sum);
  if (!Number.isFinite(preClipNorm)) throw new FlockError('non-finite', `cannot clip an update whose L2 norm is ${preClipNorm}`);
  const clipped = preClipNorm > bound;
  const scale = clipped ? bound / preClipNorm : 1;
  const tensors: Record<string, RowSparseTensor> = {};
  for (const [k, v] of Object.entries(t)) {
    const o = new Float32Array(v.data.length);
    if (clipped) for (let i = 0; i < o.length; i++) o[i] = v.data[i] * scale;
    else o.set(v.data);
    tensors[k] = { rows: v.rows, data: o };
  }
  return { tensors, preClipNorm, clipped };
}
