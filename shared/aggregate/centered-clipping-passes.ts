/**
 * The two passes a centered-clipping iteration (centered-clipping.ts) makes over one stored
 * tensor of one update, in plain JS: its squared distance to the center, and its clipped
 * pull added into the step. CenteredClippingKernel runs the same passes on WebAssembly,
 * bit for bit (centered-clipping-passes.test.ts).
 */
import type { StoredUpdate } from './stored-updates.ts';

/** The center, step and row weights of the iterations, and the two passes over one stored tensor (JS here, or CenteredClippingKernel). */
export interface IterationPasses {
  readonly center: readonly Float64Array[];
  readonly step: readonly Float64Array[];
  readonly rowWeight: readonly (Float64Array | null)[];
  /** ‖x − v‖² of update k's tensor pi (its touched rows when row-sparse; `minusCenter2`: minus ‖v_r‖² over them). */
  distance2(k: number, pi: number, minusCenter2: boolean): number;
  /** step += a·(x − v) for update k's tensor pi (row-normalised: rw += weight on its rows; untouched rows as 0: step += a·x). */
  pull(k: number, pi: number, a: number, weight: number): void;
}

export class JsPasses implements IterationPasses {
  readonly center: Float64Array[];
  readonly step: Float64Array[];
  readonly rowWeight: (Float64Array | null)[];

  constructor(
    private readonly widths: readonly number[],
    sizes: readonly number[],
    rowWeightRows: readonly (number | null)[],
    private readonly updates: readonly StoredUpdate[],
  ) {
    this.center = sizes.map((n) => new Float64Array(n));
    this.step = sizes.map((n) => new Float64Array(n));
    this.rowWeight = rowWeightRows.map((rows) => (rows === null ? null : new Float64Array(rows)));
  }

  distance2(k: number, pi: number, minusCenter2: boolean): number {
    const t = this.updates[k].tensors[pi];
    if (t instanceof Float32Array) return denseDistance2(t, this.center[pi]);
    return minusCenter2 ? touchedDistance2MinusCenter2(t.rows, t.data, this.widths[pi], this.center[pi]) : touchedDistance2(t.rows, t.data, this.widths[pi], this.center[pi]);
  }

  pull(k: number, pi: number, a: number, weight: number): void {
    const t = this.updates[k].tensors[pi];
    if (t instanceof Float32Array) return addScaledDifference(this.step[pi], t, this.center[pi], a);
    const rw = this.rowWeight[pi];
    if (rw) addScaledRowDifference(this.step[pi], rw, t.rows, t.data, this.widths[pi], this.center[pi], a, weight);
    else addScaledRows(this.step[pi], t.rows, t.data, this.widths[pi], a);
  }
}

function denseDistance2(x: Float32Array, v: Float64Array): number {
  let d = 0;
  for (let i = 0; i < x.length; i++) {
    const e = x[i] - v[i];
    d += e * e;
  }
  return d;
}

/**
 * Σ over the stored rows of ‖x_r − v_r‖². For an even width w the even and odd positions
 * go to two partial sums added at the end (the WebAssembly kernel's two SIMD lanes, so
 * both give the same bits, and two independent sums run faster than one chain).
 */
function touchedDistance2(rows: Int32Array, data: Float32Array, w: number, v: Float64Array): number {
  let d0 = 0;
  let d1 = 0;
  if (w % 2 === 1) {
    for (let i = 0; i < rows.length; i++) {
      const off = rows[i] * w;
      const base = i * w;
      for (let j = 0; j < w; j++) {
        const e = data[base + j] - v[off + j];
        d0 += e * e;
      }
    }
    return d0;
  }
  for (let i = 0; i < rows.length; i++) {
    const off = rows[i] * w;
    const base = i * w;
    for (let j = 0; j < w; j += 2) {
      const e0 = data[base + j] - v[off + j];
      const e1 = data[base + j + 1] - v[off + j + 1];
      d0 += e0 * e0;
      d1 += e1 * e1;
    }
  }
  return d0 + d1;
}

/** Σ over the stored rows of ‖x_r − v_r‖² − ‖v_r‖²: untouched rows count as 0 (‖v‖² is added once per update). Partial sums as touchedDistance2. */
function touchedDistance2MinusCenter2(rows: Int32Array, data: Float32Array, w: number, v: Float64Array): number {
  let d0 = 0;
  let d1 = 0;
  let c0 = 0;
  let c1 = 0;
  if (w % 2 === 1) {
    for (let i = 0; i < rows.length; i++) {
      const off = rows[i] * w;
      const base = i * w;
      for (let j = 0; j < w; j++) {
        const c = v[off + j];
        const e = data[base + j] - c;
        d0 += e * e;
        c0 += c * c;
      }
    }
    return d0 - c0;
  }
  for (let i = 0; i < rows.length; i++) {
    const off = rows[i] * w;
    const base = i * w;
    for (let j = 0; j < w; j += 2) {
      const v0 = v[off + j];
      const v1 = v[off + j + 1];
      const e0 = data[base + j] - v0;
      const e1 = data[base + j + 1] - v1;
      d0 += e0 * e0;
      d1 += e1 * e1;
      c0 += v0 * v0;
      c1 += v1 * v1;
    }
  }
  return d0 + d1 - (c0 + c1);
}

function addScaledDifference(s: Float64Array, x: Float32Array, v: Float64Array, a: number): void {
  for (let i = 0; i < x.length; i++) s[i] += a * (x[i] - v[i]);
}

/** Row-normalised: s_r += a·(x_r − v_r) and rw_r += weight over the stored rows. */
function addScaledRowDifference(s: Float64Array, rw: Float64Array, rows: Int32Array, data: Float32Array, w: number, v: Float64Array, a: number, weight: number): void {
  for (let i = 0; i < rows.length; i++) {
    const off = rows[i] * w;
    const base = i * w;
    rw[rows[i]] += weight;
    for (let j = 0; j < w; j++) s[off + j] += a * (data[base + j] - v[off + j]);
  }
}

/** Untouched rows as 0: s_r += a·x_r over the stored rows (the −a·v part is added for every row at once). */
function addScaledRows(s: Float64Array, rows: Int32Array, data: Float32Array, w: number, a: number): void {
  for (let i = 0; i < rows.length; i++) {
    const off = rows[i] * w;
    const base = i * w;
    for (let j = 0; j < w; j++) s[off + j] += a * data[base + j];
  }
}
