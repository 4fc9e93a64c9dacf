import { FlockError } from '../errors.ts';
import { globalParams, type ModelSpec } from '../model/model-spec.ts';
import { elementCount, type NamedTensors } from '../tensor/named-tensors.ts';
import { l2Norm } from './l2-clip.ts';
import type { RowSparseTensor } from './row-sparse-clip.ts';
import { fromWireTensors, type ModelUpdate, type WireTensor } from './tensor-codec.ts';

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
  checkNumExamples(update.numExamples);
  checkWireNamesAndShapes(spec, update.tensors);
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

/**
 * numExamples is a client's claim: a positive integer ≤ MAX_NUM_EXAMPLES or the update is
 * refused ('malformed'). 0 is refused too: a participant with nothing to train on has
 * nothing to send, and the coordinator should not select it (eligibility).
 */
export function checkNumExamples(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_NUM_EXAMPLES) {
    throw new FlockError('malformed', `numExamples must be a positive integer ≤ ${MAX_NUM_EXAMPLES}, got ${n}`);
  }
}

function checkWireNamesAndShapes(spec: ModelSpec, tensors: readonly WireTensor[]): void {
  const expected = new Map(globalParams(spec).map((p) => [p.name, p]));
  const seen = new Set<string>();
  for (const t of tensors) {
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
}

/** One tensor of a client delta: dense, or only the listed rows (every other row 0). */
export type DeltaTensor = Float32Array | RowSparseTensor;
/** A client delta over the GLOBAL parameters, each tensor dense or row-sparse. */
export type DeltaTensors = Readonly<Record<string, DeltaTensor>>;

/** L2 norm of a delta over all its tensors, float64, in key order (zero rows add nothing: the dense norm's value). */
export function deltaL2Norm(delta: DeltaTensors): number {
  let sum = 0;
  for (const t of Object.values(delta)) {
    const v = t instanceof Float32Array ? t : t.data;
    for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  }
  return Math.sqrt(sum);
}

/**
 * The validate stage for a delta already in memory (the in-process simulation's, or a
 * decoded update's, see deltaFromUpdate): exactly the GLOBAL parameters, each dense with
 * the parameter's element count or row-sparse with strictly increasing rows in range and
 * rows × width values; every value finite; L2 norm ≤ clipBound (with the float32 clip
 * tolerance). Returns the norm; never copies or changes the delta. Throws FlockError
 * 'wrong-shape', 'non-finite' or 'over-bound'.
 */
export function checkDeltaAgainstSpec(spec: ModelSpec, delta: DeltaTensors, clipBound: number): number {
  const params = globalParams(spec);
  const names = new Set(params.map((p) => p.name));
  for (const name of Object.keys(delta)) {
    if (!names.has(name)) throw new FlockError('wrong-shape', `unexpected tensor ${name}: not a global parameter of model ${spec.kind}`);
  }
  for (const p of params) {
    const t = Object.prototype.hasOwnProperty.call(delta, p.name) ? delta[p.name] : undefined;
    if (!t) throw new FlockError('wrong-shape', `missing tensor ${p.name} (expected shape [${p.shape}])`);
    const n = elementCount(p.shape);
    if (t instanceof Float32Array) {
      if (t.length !== n) throw new FlockError('wrong-shape', `tensor ${p.name}: expected ${n} values for shape [${p.shape}], got ${t.length}`);
    } else {
      const numRows = p.shape[0] ?? 1;
      const width = n / numRows;
      if (!(t.rows instanceof Int32Array) || !(t.data instanceof Float32Array)) throw new FlockError('wrong-shape', `row-sparse ${p.name}: rows must be an Int32Array and data a Float32Array`);
      if (t.data.length !== t.rows.length * width) throw new FlockError('wrong-shape', `row-sparse ${p.name}: ${t.rows.length} rows need ${t.rows.length * width} values, got ${t.data.length}`);
      for (let i = 0; i < t.rows.length; i++) {
        if (!(t.rows[i] >= 0 && t.rows[i] < numRows) || (i > 0 && t.rows[i] <= t.rows[i - 1])) {
          throw new FlockError('wrong-shape', `row-sparse ${p.name}: rows must be strictly increasing in [0, ${numRows})`);
        }
      }
    }
    const v = t instanceof Float32Array ? t : t.data;
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) throw new FlockError('non-finite', `tensor ${p.name}: value ${v[i]} at index ${i}`);
    }
  }
  const norm = deltaL2Norm(delta);
  if (!(clipBound > 0)) throw new FlockError('bad-config', `clip bound must be a positive number, got ${clipBound}`);
  if (norm > clipBound * (1 + CLIP_TOLERANCE)) throw new FlockError('over-bound', `update L2 norm ${norm} exceeds clip bound ${clipBound}`);
  return norm;
}

/**
 * The validate stage for a decoded wire update, without densifying: the same checks as
 * checkUpdateAgainstSpec, but row-sparse wire tensors stay row-sparse (rows as an
 * Int32Array view, data as decoded). Throws FlockError like checkUpdateAgainstSpec.
 */
export function deltaFromUpdate(spec: ModelSpec, update: ModelUpdate, clipBound: number): { delta: Record<string, DeltaTensor>; norm: number } {
  checkNumExamples(update.numExamples);
  checkWireNamesAndShapes(spec, update.tensors);
  const delta: Record<string, DeltaTensor> = {};
  for (const t of update.tensors) {
    // Row indices fit in int32: a tensor has at most MAX_TENSOR_ELEMENTS (2²⁸) elements.
    delta[t.name] = t.rows ? { rows: Int32Array.from(t.rows), data: t.data } : t.data;
  }
  const norm = checkDeltaAgainstSpec(spec, delta, clipBound);
  return { delta, norm };
}
