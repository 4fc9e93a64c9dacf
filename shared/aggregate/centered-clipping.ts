/**
 * 'centered-clipping[:τ[:L]]': centered clipping of Karimireddy, He & Jaggi 2021,
 * "Learning from History for Byzantine Robust Optimization" (ICML), a norm-based rule:
 *
 *   v ← v + Σᵢ wᵢ · clip_τ(xᵢ − v) / Σᵢ wᵢ,   clip_τ(z) = z · min(1, τ / ‖z‖₂),
 *
 * repeated L times from v = 0 (the paper starts from the previous round's momentum; this
 * pipeline is stateless per round, so it starts from "no change"). Each update can pull
 * the center by at most its weight share × τ per iteration, whatever it sent; with
 * τ ≥ the clip bound the first iteration is exactly the weighted mean. τ defaults to half
 * the clip bound (aggregation-settings.ts), L to 3. Unlike the coordinate-wise rules it
 * looks at whole updates, so it does not need a majority in every coordinate.
 *
 * Row-sparse embedding tables with rowNormalize (the default): an update has an opinion
 * only on the rows it touched, so its distance to the center is measured over its touched
 * rows (and the dense parameters), and each row r moves by the clipped pulls of the
 * updates that touched r divided by their summed weight — the row-normalised mean when no
 * update is clipped. Without rowNormalize untouched rows count as 0 (the paper's rule on
 * the dense vectors), computed sparsely. Keeps every update (StoredUpdates).
 */
import type { ModelSpec } from '../model/model-spec.ts';
import { elementCount, type NamedTensors } from '../tensor/named-tensors.ts';
import { DEFAULT_CENTERED_CLIPPING_ITERATIONS, DEFAULT_CENTERED_CLIPPING_RADIUS_FRACTION, type CombineRule } from './aggregation-settings.ts';
import { StoringCombine } from './storing-combine.ts';

export class CenteredClippingCombine extends StoringCombine {
  readonly radius: number;
  readonly iterations: number;

  constructor(
    spec: ModelSpec,
    private readonly rowNormalize: boolean,
    maxUpdates: number,
    rule: Extract<CombineRule, { kind: 'centered-clipping' }>,
    clipNorm: number,
  ) {
    super(spec, maxUpdates);
    this.radius = rule.radius ?? DEFAULT_CENTERED_CLIPPING_RADIUS_FRACTION * clipNorm;
    this.iterations = rule.iterations ?? DEFAULT_CENTERED_CLIPPING_ITERATIONS;
  }

  override result(): NamedTensors {
    const { params, updates, totalWeight } = this.stored;
    const rowNormalize = this.rowNormalize;
    const sizes = params.map((p) => elementCount(p.shape));
    const widths = params.map((p, pi) => sizes[pi] / (p.shape[0] ?? 1));
    const center = sizes.map((n) => new Float64Array(n));
    const step = sizes.map((n) => new Float64Array(n));
    const rowWeight = params.map((p) => (p.rowSparse && rowNormalize ? new Float64Array(p.shape[0] ?? 1) : null));
    const scale = new Float64Array(updates.length);
    for (let it = 0; it < this.iterations; it++) {
      // ‖v‖² of each rowSparse table: without rowNormalize an update's untouched rows are 0, at distance ‖v_r‖.
      const centerNorm2 = params.map((p, pi) => (p.rowSparse && !rowNormalize ? sumSquares(center[pi]) : 0));
      for (let k = 0; k < updates.length; k++) {
        const u = updates[k];
        let dist2 = 0;
        for (let pi = 0; pi < params.length; pi++) {
          const t = u.tensors[pi];
          dist2 +=
            t instanceof Float32Array
              ? denseDistance2(t, center[pi])
              : centerNorm2[pi] + sparseDistance2(t.rows, t.data, widths[pi], center[pi], !rowNormalize);
        }
        const dist = Math.sqrt(Math.max(0, dist2));
        scale[k] = u.weight * (dist > this.radius ? this.radius / dist : 1);
      }
      for (let pi = 0; pi < params.length; pi++) {
        const v = center[pi];
        const s = step[pi];
        const rw = rowWeight[pi];
        const w = widths[pi];
        s.fill(0);
        rw?.fill(0);
        let pulled = 0;
        for (let k = 0; k < updates.length; k++) {
          const t = updates[k].tensors[pi];
          if (t instanceof Float32Array) {
            addScaledDifference(s, t, v, scale[k]);
          } else {
            pulled += scale[k];
            addSparse(s, rw, t.rows, t.data, w, v, scale[k], updates[k].weight);
          }
        }
        if (!params[pi].rowSparse) {
          for (let i = 0; i < v.length; i++) v[i] += s[i] / totalWeight;
        } else if (rw) {
          for (let r = 0; r < rw.length; r++) {
            if (rw[r] === 0) continue;
            for (let j = r * w; j < (r + 1) * w; j++) v[j] += s[j] / rw[r];
          }
        } else {
          // Untouched rows are 0: every update pulls every row by −scale·v as well.
          for (let i = 0; i < v.length; i++) v[i] += (s[i] - pulled * v[i]) / totalWeight;
        }
      }
    }
    const out: NamedTensors = {};
    params.forEach((p, pi) => (out[p.name] = Float32Array.from(center[pi])));
    return out;
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

/** Σ over the stored rows of ‖x_r − v_r‖², minus ‖v_r‖² when untouched rows count as 0 (‖v‖² is then added once per update). */
function sparseDistance2(rows: Int32Array, data: Float32Array, w: number, v: Float64Array, zerosElsewhere: boolean): number {
  let d = 0;
  let c2 = 0;
  for (let i = 0; i < rows.length; i++) {
    const off = rows[i] * w;
    const base = i * w;
    for (let j = 0; j < w; j++) {
      const c = v[off + j];
      const e = data[base + j] - c;
      d += e * e;
      c2 += c * c;
    }
  }
  return zerosElsewhere ? d - c2 : d;
}

function addScaledDifference(s: Float64Array, x: Float32Array, v: Float64Array, a: number): void {
  for (let i = 0; i < x.length; i++) s[i] += a * (x[i] - v[i]);
}

/** Row-normalised (rw given): s_r += a·(x_r − v_r) and rw_r += weight; else s_r += a·x_r (the −a·v part is added for every row at once). */
function addSparse(s: Float64Array, rw: Float64Array | null, rows: Int32Array, data: Float32Array, w: number, v: Float64Array, a: number, weight: number): void {
  if (!rw) {
    for (let i = 0; i < rows.length; i++) {
      const off = rows[i] * w;
      const base = i * w;
      for (let j = 0; j < w; j++) s[off + j] += a * data[base + j];
    }
    return;
  }
  for (let i = 0; i < rows.length; i++) {
    const off = rows[i] * w;
    const base = i * w;
    rw[rows[i]] += weight;
    for (let j = 0; j < w; j++) s[off + j] += a * (data[base + j] - v[off + j]);
  }
}

function sumSquares(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return s;
}
