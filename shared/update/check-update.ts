import { FlockError } from '../errors.ts';
import { globalParams, type ModelSpec } from '../model/model-spec.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { l2Norm } from './l2-clip.ts';
import { fromWireTensors, type ModelUpdate } from './tensor-codec.ts';

/** Largest numExamples a single client may claim (bounds its weight in FedAvg). */
export const MAX_NUM_EXAMPLES = 1e7;
/** Slack on the clip bound: the client clips in float32, we re-measure in float64. */
const CLIP_TOLERANCE = 1e-5;

/**
 * Validates a decoded client update against the model spec and returns its dense
 * GLOBAL tensors. Throws FlockError: 'wrong-shape' (missing/extra names, shape
 * mismatch), 'non-finite', 'over-bound' (L2 norm above clipBound) or 'malformed'
 * (numExamples not a positive integer ≤ MAX_NUM_EXAMPLES).
 */
export function checkUpdateAgainstSpec(spec: ModelSpec, update: ModelUpdate, clipBound: number): NamedTensors {
  const n = update.numExamples;
  if (!Number.isInteger(n) || n < 1 || n > MAX_NUM_EXAMPLES) {
    throw new FlockError('malformed', `numExamples must be a positive integer ≤ ${MAX_NUM_EXAMPLES}, got ${n}`);
  }
  const expected = new Map(globalParams(spec).map((p) => [p.name, p]));
  const seen = new Set<string>();
  for (const t of update.tensors) {
    const p = expected.get(t.name);
    if (!p) throw new FlockError('wrong-shape', `unexpected tensor ${t.name}: not a global parameter of model ${spec.kind}`);
    if (seen.has(t.name)) throw new FlockError('wrong-shape', `tensor ${t.name} sent twice`);
    seen.add(t.name);
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new FlockError('wrong-shape', `tensor ${t.name}: expected shape [${p.shape}], got [${t.shape}]`);
    }
  }
  for (const name of expected.keys()) {
    if (!seen.has(name)) throw new FlockError('wrong-shape', `missing tensor ${name} (expected shape [${expected.get(name)!.shape}])`);
  }
  const dense = fromWireTensors(update.tensors);
  for (const [name, v] of Object.entries(dense)) {
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) throw new FlockError('non-finite', `tensor ${name}: value ${v[i]} at index ${i}`);
    }
  }
  const norm = l2Norm(dense);
  if (norm > clipBound * (1 + CLIP_TOLERANCE)) {
    throw new FlockError('over-bound', `update L2 norm ${norm} exceeds clip bound ${clipBound}`);
  }
  return dense;
}
