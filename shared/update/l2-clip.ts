import { FlockError } from '../errors.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';

/** L2 norm over all tensors together, accumulated in float64. */
export function l2Norm(t: NamedTensors): number {
  let sum = 0;
  for (const v of Object.values(t)) {
    for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  }
  return Math.sqrt(sum);
}

/**
 * Scales the whole update by min(1, bound / ‖t‖₂) — the per-client clipping of
 * DP-FedAvg (McMahan, Ramage, Talwar, Zhang, "Learning Differentially Private
 * Recurrent Language Models", ICLR 2018). Bounding each client's contribution is what
 * makes the coordinator's `over-bound` check and any added noise meaningful.
 * Returns new arrays; the input is never mutated.
 */
export function clipToL2(
  t: NamedTensors,
  bound: number,
): { tensors: NamedTensors; preClipNorm: number; clipped: boolean } {
  if (!Number.isFinite(bound) || bound <= 0) {
    throw new FlockError('bad-config', `clip bound must be a positive finite number, got ${bound}`);
  }
  const preClipNorm = l2Norm(t);
  if (!Number.isFinite(preClipNorm)) {
    throw new FlockError('non-finite', `cannot clip an update whose L2 norm is ${preClipNorm}`);
  }
  const clipped = preClipNorm > bound;
  const scale = clipped ? bound / preClipNorm : 1;
  const tensors: NamedTensors = {};
  for (const [k, v] of Object.entries(t)) {
    if (!clipped) {
      tensors[k] = v.slice();
      continue;
    }
    const o = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) o[i] = v[i] * scale;
    tensors[k] = o;
  }
  return { tensors, preClipNorm, clipped };
}
