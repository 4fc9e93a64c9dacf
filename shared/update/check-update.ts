import { FlockError } from '../errors.ts';
import { globalParams, type ModelSpec, type ParamSpec } from '../model/model-spec.ts';
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

/**
 * preClipNorm is a client's claim too: the norm of its update before clipping, a finite
 * number ≥ 0 or the update is refused ('malformed'). It only feeds the round log's mean
 * and adaptive clipping's bit (whose sensitivity is ½ whatever is claimed).
 */
export function checkPreClipNorm(n: number): void {
  if (!(Number.isFinite(n) && n >= 0)) throw new FlockError('malformed', `preClipNorm must be a finite number ≥ 0, got ${n}`);
}

function checkWireNamesAndShapes(spec: ModelSpec, tensors: readonly WireTensor[]): void {
  const expected = specParams(spec).byName;
  for (let k = 0; k < tensors.length; k++) {
    const t = tensors[k];
    const p = expected.get(t.name);
    if (!p) throw new FlockError('wrong-shape', `unexpected tensor ${t.name}: not a global parameter of model ${spec.kind}`);
    // Names are few (a model's GLOBAL parameters): a scan is cheaper than a Set.
    for (let i = 0; i < k; i++) if (tensors[i].name === t.name) throw new FlockError('wrong-shape', `tensor ${t.name} sent twice`);
    let sameShape = t.shape.length === p.shape.length;
    for (let i = 0; sameShape && i < p.shape.length; i++) sameShape = t.shape[i] === p.shape[i];
    if (!sameShape) throw new FlockError('wrong-shape', `tensor ${t.name}: expected shape [${p.shape}], got [${t.shape}]`);
  }
  // Every name seen is expected and none twice: all are there when the counts agree.
  if (tensors.length !== expected.size) {
    for (const name of expected.keys()) {
      if (!tensors.some((t) => t.name === name)) throw new FlockError('wrong-shape', `missing tensor ${name} (expected shape [${expected.get(name)!.shape}])`);
    }
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

/** Relative margin below the bound under which the fast (4-way) norm decides alone; see checkDeltaAgainstSpec. */
const EXACT_NORM_MARGIN = 1e-9;

/**
 * Σ v², float64, in four interleaved partial sums (independent additions: about 3× the
 * speed of one running sum). Non-finite iff some value is non-finite — a float32 squared
 * is below 2¹²⁸ and 2²⁸ of them below 2¹⁵⁶, far from float64's overflow. Differs from the
 * sequential sum (deltaL2Norm) by at most ~n·2⁻⁵³ relative.
 */
export function sumOfSquares(v: Float32Array): number {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const n = v.length;
  const n4 = n - (n % 4);
  let i = 0;
  for (; i < n4; i += 4) {
    const x0 = v[i];
    const x1 = v[i + 1];
    const x2 = v[i + 2];
    const x3 = v[i + 3];
    a += x0 * x0;
    b += x1 * x1;
    c += x2 * x2;
    d += x3 * x3;
  }
  for (; i < n; i++) a += v[i] * v[i];
  return (a + b) + (c + d);
}

/**
 * The validate stage for a delta already in memory (the in-process simulation's, or a
 * decoded update's, see deltaFromUpdate): exactly the GLOBAL parameters, each dense with
 * the parameter's element count or row-sparse with strictly increasing rows in range and
 * rows × width values; every value finite; L2 norm ≤ clipBound (with the float32 clip
 * tolerance). Never copies or changes the delta. Throws FlockError 'wrong-shape',
 * 'non-finite' or 'over-bound'.
 *
 * One pass over the values (sumOfSquares: finiteness and norm together). Returns the L2
 * norm: exactly deltaL2Norm's value (sequential float64, key order) whenever it is within
 * EXACT_NORM_MARGIN of the bound — so the over-bound refusal and the bound stage's
 * rescaling are bit-for-bit today's — and the one-pass value (equal to ~1e-12) below that.
 */
export function checkDeltaAgainstSpec(spec: ModelSpec, delta: DeltaTensors, clipBound: number): number {
  const params = specParams(spec);
  for (const name in delta) {
    if (!Object.prototype.hasOwnProperty.call(delta, name)) continue;
    if (!params.byName.has(name)) throw new FlockError('wrong-shape', `unexpected tensor ${name}: not a global parameter of model ${spec.kind}`);
  }
  let sum = 0;
  for (const p of params.list) {
    const t = Object.prototype.hasOwnProperty.call(delta, p.name) ? delta[p.name] : undefined;
    if (!t) throw new FlockError('wrong-shape', `missing tensor ${p.name} (expected shape [${p.shape}])`);
    const n = p.n;
    let v: Float32Array;
    if (t instanceof Float32Array) {
      if (t.length !== n) throw new FlockError('wrong-shape', `tensor ${p.name}: expected ${n} values for shape [${p.shape}], got ${t.length}`);
      v = t;
    } else {
      const numRows = p.numRows;
      const width = p.width;
      const rows = t.rows;
      if (!(rows instanceof Int32Array) || !(t.data instanceof Float32Array)) throw new FlockError('wrong-shape', `row-sparse ${p.name}: rows must be an Int32Array and data a Float32Array`);
      if (t.data.length !== rows.length * width) throw new FlockError('wrong-shape', `row-sparse ${p.name}: ${rows.length} rows need ${rows.length * width} values, got ${t.data.length}`);
      let prev = -1;
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        if (!(r > prev && r < numRows)) throw new FlockError('wrong-shape', `row-sparse ${p.name}: rows must be strictly increasing in [0, ${numRows})`);
        prev = r;
      }
      v = t.data;
    }
    const part = sumOfSquares(v);
    if (!Number.isFinite(part)) {
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) throw new FlockError('non-finite', `tensor ${p.name}: value ${v[i]} at index ${i}`);
      }
    }
    sum += part;
  }
  let norm = Math.sqrt(sum);
  if (!(clipBound > 0)) throw new FlockError('bad-config', `clip bound must be a positive number, got ${clipBound}`);
  if (norm >= clipBound * (1 - EXACT_NORM_MARGIN)) norm = deltaL2Norm(delta);
  if (norm > clipBound * (1 + CLIP_TOLERANCE)) throw new FlockError('over-bound', `update L2 norm ${norm} exceeds clip bound ${clipBound}`);
  return norm;
}

interface IndexedParam extends ParamSpec {
  /** Element count, rows (shape[0], 1 for a scalar) and values per row. */
  readonly n: number;
  readonly numRows: number;
  readonly width: number;
}

/** A spec's GLOBAL parameters with their sizes, computed once per spec object. */
const specIndex = new WeakMap<ModelSpec, { list: readonly IndexedParam[]; byName: ReadonlyMap<string, IndexedParam> }>();

function specParams(spec: ModelSpec): { list: readonly IndexedParam[]; byName: ReadonlyMap<string, IndexedParam> } {
  let found = specIndex.get(spec);
  if (!found) {
    const list = globalParams(spec).map((p) => {
      const n = elementCount(p.shape);
      const numRows = p.shape[0] ?? 1;
      return { ...p, n, numRows, width: n / numRows };
    });
    found = { list, byName: new Map(list.map((p) => [p.name, p])) };
    specIndex.set(spec, found);
  }
  return found;
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
    // Row indices fit in int32 (a tensor has at most MAX_TENSOR_ELEMENTS = 2²⁸ elements), so
    // an Int32Array over the same memory reads the same values: no copy.
    delta[t.name] = t.rows ? { rows: new Int32Array(t.rows.buffer, t.rows.byteOffset, t.rows.length), data: t.data } : t.data;
  }
  const norm = checkDeltaAgainstSpec(spec, delta, clipBound);
  return { delta, norm };
}
