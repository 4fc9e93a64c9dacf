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
    const sizes = params.map((p) => elementCount(p.shape));
    const widths = params.map((p, pi) => sizes[pi] / (p.shape[0] ?? 1));
    const center = sizes.map((n) => new Float64Array(n));
    const step = sizes.map((n) => new Float64Array(n));
    const rowWeight = params.map((p) => (p.rowSparse && this.rowNormalize ? new Float64Array(p.shape[0] ?? 1) : null));
    const scale = new Float64Array(updates.length);
    for (let it = 0; it < this.iterations; it++) {
      // ‖v‖² of each rowSparse table: without rowNormalize an update's untouched rows are 0, at distance ‖v_r‖.
      const centerNorm2 = params.map((p, pi) => (p.rowSparse && !this.rowNormalize ? sumSquares(center[pi]) : 0));
      updates.forEach((u, k) => {
        let dist2 = 0;
        params.forEach((p, pi) => {
          const v = center[pi];
          const t = u.tensors[pi];
          if (t instanceof Float32Array) {
            for (let i = 0; i < t.length; i++) dist2 += (t[i] - v[i]) ** 2;
            return;
          }
          const w = widths[pi];
          dist2 += centerNorm2[pi];
          for (let i = 0; i < t.rows.length; i++) {
            const off = t.rows[i] * w;
            for (let j = 0; j < w; j++) {
              const c = v[off + j];
              dist2 += (t.data[i * w + j] - c) ** 2;
              if (!this.rowNormalize) dist2 -= c * c;
            }
          }
        });
        const dist = Math.sqrt(Math.max(0, dist2));
        scale[k] = u.weight * (dist > this.radius ? this.radius / dist : 1);
      });
      params.forEach((p, pi) => {
        const v = center[pi];
        const s = step[pi];
        const rw = rowWeight[pi];
        s.fill(0);
        rw?.fill(0);
        let pulled = 0;
        updates.forEach((u, k) => {
          const a = scale[k];
          const t = u.tensors[pi];
          if (t instanceof Float32Array) {
            for (let i = 0; i < t.length; i++) s[i] += a * (t[i] - v[i]);
            return;
          }
          const w = widths[pi];
          pulled += a;
          for (let i = 0; i < t.rows.length; i++) {
            const off = t.rows[i] * w;
            if (rw) rw[t.rows[i]] += u.weight;
            for (let j = 0; j < w; j++) s[off + j] += a * (rw ? (t.data[i * w + j] - v[off + j]) : t.data[i * w + j]);
          }
        });
        if (!p.rowSparse) {
          for (let i = 0; i < v.length; i++) v[i] += s[i] / totalWeight;
        } else if (rw) {
          const w = widths[pi];
          for (let r = 0; r < rw.length; r++) {
            if (rw[r] === 0) continue;
            for (let j = r * w; j < (r + 1) * w; j++) v[j] += s[j] / rw[r];
          }
        } else {
          // Untouched rows are 0: every update pulls every row by −scale·v as well.
          for (let i = 0; i < v.length; i++) v[i] += (s[i] - pulled * v[i]) / totalWeight;
        }
      });
    }
    const out: NamedTensors = {};
    params.forEach((p, pi) => (out[p.name] = Float32Array.from(center[pi])));
    return out;
  }
}

function sumSquares(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return s;
}
