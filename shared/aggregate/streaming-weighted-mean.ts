import { FlockError } from '../errors.ts';
import { globalParams, type ModelSpec, type ParamSpec } from '../model/model-spec.ts';
import { elementCount, type NamedTensors } from '../tensor/named-tensors.ts';
import type { RowSparseTensor } from '../update/row-sparse-clip.ts';
import { WeightedFoldKernel } from './weighted-fold-kernel.ts';

/**
 * Weighted mean of client deltas over the GLOBAL parameters, accumulated one update
 * at a time: memory is O(model) (float64 sums) however many clients report, so the
 * coordinator never holds a round's updates in memory.
 *
 * rowNormalize: embedding gradients are row-sparse — a client changes only the rows
 * of the items it touched. Plain FedAvg divides every row by the total weight of the
 * round, diluting an item's row by all the clients that never saw the item, so the
 * server learning rate would have to be huge for rare items to learn at all (see
 * DESIGN.md "Models"). With rowNormalize, each row of a rowSparse parameter is divided
 * by the summed weight of only the contributions whose row was non-zero; rows nobody
 * touched stay 0. Dense parameters keep the ordinary weighted mean.
 */
export class StreamingWeightedMean {
  private readonly params: ParamSpec[];
  private readonly sumByName = new Map<string, Float64Array>();
  /** Per-row summed weight, only for rowSparse params when rowNormalize is on. */
  private readonly rowWeights = new Map<string, Float64Array>();
  private n = 0;
  private weightSum = 0;
  /** Where the sums live and the fold runs on WebAssembly; null: JS arrays and the JS fold. */
  private readonly kernel: WeightedFoldKernel | null;

  /** opts.kernel false: the JS fold even where the WebAssembly one runs (tests compare the two). */
  constructor(spec: ModelSpec, opts?: { rowNormalize?: boolean; kernel?: boolean }) {
    this.params = globalParams(spec);
    const sizes = this.params.map((p) => elementCount(p.shape));
    const rowWeightRows = this.params.map((p) => (opts?.rowNormalize && p.rowSparse && p.shape.length >= 1 ? p.shape[0] : null));
    this.kernel = opts?.kernel === false ? null : WeightedFoldKernel.create(sizes, rowWeightRows);
    this.params.forEach((p, pi) => {
      this.sumByName.set(p.name, this.kernel ? this.kernel.sums[pi] : new Float64Array(sizes[pi]));
      const rows = rowWeightRows[pi];
      if (rows !== null) this.rowWeights.set(p.name, this.kernel ? this.kernel.rowWeights[pi]! : new Float64Array(rows));
    });
  }

  get count(): number {
    return this.n;
  }

  get totalWeight(): number {
    return this.weightSum;
  }

  private checkWeightAndNames(delta: object, weight: number): void {
    if (!Number.isFinite(weight) || weight <= 0) throw new FlockError('malformed', `weight must be positive and finite, got ${weight}`);
    for (const name of Object.keys(delta)) {
      if (!this.sumByName.has(name)) throw new FlockError('wrong-shape', `delta has tensor ${name}, which is not a global parameter`);
    }
  }

  add(delta: NamedTensors, weight: number): void {
    this.checkWeightAndNames(delta, weight);
    // Check everything before touching the sums so a bad delta leaves no partial trace.
    for (const p of this.params) {
      const d = delta[p.name];
      const n = this.sumByName.get(p.name)!.length;
      if (!d || d.length !== n) throw new FlockError('wrong-shape', `delta tensor ${p.name}: expected ${n} values, got ${d ? d.length : 'none'}`);
    }
    for (const p of this.params) {
      const d = delta[p.name];
      const s = this.sumByName.get(p.name)!;
      for (let i = 0; i < s.length; i++) s[i] += weight * d[i];
      const rw = this.rowWeights.get(p.name);
      if (!rw) continue;
      const width = s.length / rw.length;
      for (let r = 0; r < rw.length; r++) {
        for (let j = r * width; j < (r + 1) * width; j++) {
          if (d[j] !== 0) {
            rw[r] += weight;
            break;
          }
        }
      }
    }
    this.n++;
    this.weightSum += weight;
  }

  /**
   * The same fold as add() for an update given row-sparse: each tensor is either dense
   * or { rows, data } with only the listed rows non-zero. Touches O(rows) memory instead
   * of O(model) and gives bit-identical sums and row weights to add() of the densified
   * update (a zero row adds exactly 0 and never counts as touched).
   *
   * `scale` (default 1): fold Math.fround(scale · v) instead of v — bit-identical to
   * folding the delta scaled in float32 first (scale-delta.ts, the bound stage), without
   * the scaled copy.
   */
  addRows(delta: Readonly<Record<string, Float32Array | RowSparseTensor>>, weight: number, scale = 1): void {
    this.checkWeightAndNames(delta, weight);
    if (!(Number.isFinite(scale) && scale > 0)) throw new FlockError('malformed', `scale must be positive and finite, got ${scale}`);
    for (const p of this.params) {
      const d = delta[p.name];
      const n = this.sumByName.get(p.name)!.length;
      if (!d) throw new FlockError('wrong-shape', `delta tensor ${p.name} missing`);
      if (d instanceof Float32Array) {
        if (d.length !== n) throw new FlockError('wrong-shape', `delta tensor ${p.name}: expected ${n} values, got ${d.length}`);
        continue;
      }
      const numRows = p.shape[0] ?? 1;
      const width = n / numRows;
      if (d.data.length !== d.rows.length * width) throw new FlockError('wrong-shape', `row-sparse ${p.name}: ${d.rows.length} rows need ${d.rows.length * width} values, got ${d.data.length}`);
      let prev = -1;
      for (let i = 0; i < d.rows.length; i++) {
        const r = d.rows[i];
        if (!(r > prev && r < numRows)) throw new FlockError('wrong-shape', `row-sparse ${p.name}: rows must be strictly increasing in [0, ${numRows})`);
        prev = r;
      }
    }
    this.addChecked(delta, weight, scale);
  }

  /**
   * addRows without its checks, for a delta that checkDeltaAgainstSpec has accepted (the
   * aggregation pipeline's: RoundAggregation validates before it folds) and a positive
   * finite weight and scale. Given anything else it may fold garbage or throw midway.
   */
  addChecked(delta: Readonly<Record<string, Float32Array | RowSparseTensor>>, weight: number, scale = 1): void {
    const kernel = this.kernel;
    for (let pi = 0; pi < this.params.length; pi++) {
      const p = this.params[pi];
      const d = delta[p.name];
      const s = this.sumByName.get(p.name)!;
      const rw = this.rowWeights.get(p.name);
      if (kernel) {
        if (d instanceof Float32Array) {
          const rows = rw ? rw.length : 1;
          kernel.foldDense(pi, rows, (s.length / rows) | 0, d, weight, scale);
        } else kernel.foldRows(pi, (s.length / (p.shape[0] ?? 1)) | 0, d.rows, d.data, weight, scale);
        continue;
      }
      if (d instanceof Float32Array) {
        // Widths as int32 (a division gives a double, and double indices slow every access).
        if (rw) {
          if (scale === 1) foldDenseRows(s, rw, (s.length / rw.length) | 0, d, weight);
          else {
            foldDenseScaled(s, d, weight, scale);
            addTouchedRowWeights(rw, (s.length / rw.length) | 0, d, weight, scale);
          }
        } else if (scale === 1) foldDense(s, d, weight);
        else foldDenseScaled(s, d, weight, scale);
        continue;
      }
      const width = (s.length / (p.shape[0] ?? 1)) | 0;
      if (scale === 1) foldRows(s, rw, width, d.rows, d.data, weight);
      else foldRowsScaled(s, rw, width, d.rows, d.data, weight, scale);
    }
    this.n++;
    this.weightSum += weight;
  }

  /** The weighted sums Σ_k w_k·Δ_k per GLOBAL tensor (float64, live: do not modify). */
  sums(): ReadonlyMap<string, Float64Array> {
    return this.sumByName;
  }

  mean(): NamedTensors {
    if (this.n === 0) throw new FlockError('malformed', 'mean() of no contributions');
    const out: NamedTensors = {};
    for (const p of this.params) {
      const s = this.sumByName.get(p.name)!;
      const o = new Float32Array(s.length);
      const rw = this.rowWeights.get(p.name);
      if (rw) {
        const width = s.length / rw.length;
        for (let r = 0; r < rw.length; r++) {
          if (rw[r] === 0) continue;
          for (let j = r * width; j < (r + 1) * width; j++) o[j] = s[j] / rw[r];
        }
      } else {
        for (let i = 0; i < s.length; i++) o[i] = s[i] / this.weightSum;
      }
      out[p.name] = o;
    }
    return out;
  }
}

// ---------------------------------------------------------------- fold kernels (monomorphic, one pass each)

/** s += w·d. */
function foldDense(s: Float64Array, d: Float32Array, w: number): void {
  const n = d.length;
  const n4 = n - (n % 4);
  let i = 0;
  for (; i < n4; i += 4) {
    s[i] += w * d[i];
    s[i + 1] += w * d[i + 1];
    s[i + 2] += w * d[i + 2];
    s[i + 3] += w * d[i + 3];
  }
  for (; i < n; i++) s[i] += w * d[i];
}

/** foldDense row by row, and rw[r] += w for each row holding a non-zero value (tested while the row is in cache). */
function foldDenseRows(s: Float64Array, rw: Float64Array, width: number, d: Float32Array, w: number): void {
  const by4 = width % 4 === 0;
  for (let r = 0, off = 0; r < rw.length; r++, off += width) {
    const end = off + width;
    if (by4) {
      for (let j = off; j < end; j += 4) {
        s[j] += w * d[j];
        s[j + 1] += w * d[j + 1];
        s[j + 2] += w * d[j + 2];
        s[j + 3] += w * d[j + 3];
      }
    } else {
      for (let j = off; j < end; j++) s[j] += w * d[j];
    }
    for (let j = off; j < end; j++) {
      if (d[j] !== 0) {
        rw[r] += w;
        break;
      }
    }
  }
}

/** s += w·fround(c·d). */
function foldDenseScaled(s: Float64Array, d: Float32Array, w: number, c: number): void {
  for (let i = 0; i < d.length; i++) s[i] += w * Math.fround(c * d[i]);
}

/** rw[r] += w for every row of dense `d` holding a non-zero value (after scaling by c). */
function addTouchedRowWeights(rw: Float64Array, width: number, d: Float32Array, w: number, c: number): void {
  for (let r = 0, off = 0; r < rw.length; r++, off += width) {
    for (let j = off; j < off + width; j++) {
      if ((c === 1 ? d[j] : Math.fround(c * d[j])) !== 0) {
        rw[r] += w;
        break;
      }
    }
  }
}

/**
 * For each listed row: s[row] += w·data[i]; rw[row] += w when the row holds a non-zero
 * value (tested after the fold, stopping at the first non-zero: the fold loop stays a
 * plain axpy). Width 1 (a bias vector) has its own loop.
 */
function foldRows(s: Float64Array, rw: Float64Array | undefined, width: number, rows: Int32Array, data: Float32Array, w: number): void {
  if (width === 1) {
    for (let i = 0; i < rows.length; i++) {
      const v = data[i];
      s[rows[i]] += w * v;
      if (rw !== undefined && v !== 0) rw[rows[i]] += w;
    }
    return;
  }
  const by4 = width % 4 === 0;
  for (let i = 0, k = 0; i < rows.length; i++, k += width) {
    const off = rows[i] * width;
    if (by4) {
      // Four at a time: fewer loop tests per row (V8 does not unroll).
      for (let j = 0; j < width; j += 4) {
        s[off + j] += w * data[k + j];
        s[off + j + 1] += w * data[k + j + 1];
        s[off + j + 2] += w * data[k + j + 2];
        s[off + j + 3] += w * data[k + j + 3];
      }
    } else {
      for (let j = 0; j < width; j++) s[off + j] += w * data[k + j];
    }
    if (rw === undefined) continue;
    for (let j = k; j < k + width; j++) {
      if (data[j] !== 0) {
        rw[rows[i]] += w;
        break;
      }
    }
  }
}

/** foldRows of fround(c·data) (the bound stage's rescale; rare: only updates above the bound). */
function foldRowsScaled(s: Float64Array, rw: Float64Array | undefined, width: number, rows: Int32Array, data: Float32Array, w: number, c: number): void {
  for (let i = 0, k = 0; i < rows.length; i++) {
    const off = rows[i] * width;
    let nonZero = false;
    for (let j = 0; j < width; j++, k++) {
      const v = Math.fround(c * data[k]);
      s[off + j] += w * v;
      if (v !== 0) nonZero = true;
    }
    if (rw !== undefined && nonZero) rw[rows[i]] += w;
  }
}
