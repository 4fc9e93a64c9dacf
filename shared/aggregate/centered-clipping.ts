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
import { CenteredClippingKernel } from './centered-clipping-kernel.ts';
import { JsPasses, type IterationPasses } from './centered-clipping-passes.ts';
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
    /** false: the JS passes even where the WebAssembly ones run (tests compare the two). */
    private readonly useKernel = true,
  ) {
    super(spec, maxUpdates);
    this.radius = rule.radius ?? DEFAULT_CENTERED_CLIPPING_RADIUS_FRACTION * clipNorm;
    this.iterations = rule.iterations ?? DEFAULT_CENTERED_CLIPPING_ITERATIONS;
  }

  protected override combine(): NamedTensors {
    const { params, updates, totalWeight } = this.stored;
    const rowNormalize = this.rowNormalize;
    const P = params.length;
    const sizes = params.map((p) => elementCount(p.shape));
    const widths = params.map((p, pi) => sizes[pi] / (p.shape[0] ?? 1));
    const rowWeightRows = params.map((p) => (p.rowSparse && rowNormalize ? (p.shape[0] ?? 1) : null));
    // The passes run on WebAssembly where it is available (bit-identical, faster), else in JS.
    const passes: IterationPasses = (this.useKernel && CenteredClippingKernel.forUpdates(widths, sizes, rowWeightRows, updates)) || new JsPasses(widths, sizes, rowWeightRows, updates);
    const { center, step, rowWeight } = passes;
    const pulled = new Float64Array(P);
    const centerNorm2 = new Float64Array(P);
    for (let it = 0; it < this.iterations; it++) {
      for (let pi = 0; pi < P; pi++) {
        // ‖v‖² of each rowSparse table: without rowNormalize an update's untouched rows are 0, at distance ‖v_r‖.
        centerNorm2[pi] = params[pi].rowSparse && !rowNormalize ? sumSquares(center[pi]) : 0;
        step[pi].fill(0);
        rowWeight[pi]?.fill(0);
        pulled[pi] = 0;
      }
      // One visit per update: its distance to the center, then its clipped pull, while its
      // rows (and the center rows they meet) are still in cache. The step arrays are separate
      // from the center, so every update sees this iteration's center, and each element of a
      // step sums the updates in the same order as two whole passes would.
      for (let k = 0; k < updates.length; k++) {
        const u = updates[k];
        let dist2 = 0;
        for (let pi = 0; pi < P; pi++) {
          const sparseZeros = params[pi].rowSparse === true && !rowNormalize;
          dist2 += (sparseZeros ? centerNorm2[pi] : 0) + passes.distance2(k, pi, sparseZeros);
        }
        const dist = Math.sqrt(Math.max(0, dist2));
        const scale = u.weight * (dist > this.radius ? this.radius / dist : 1);
        for (let pi = 0; pi < P; pi++) {
          if (params[pi].rowSparse) pulled[pi] += scale;
          passes.pull(k, pi, scale, u.weight);
        }
      }
      for (let pi = 0; pi < P; pi++) {
        const v = center[pi];
        const s = step[pi];
        const rw = rowWeight[pi];
        const w = widths[pi];
        if (!params[pi].rowSparse) {
          for (let i = 0; i < v.length; i++) v[i] += s[i] / totalWeight;
        } else if (rw) {
          for (let r = 0; r < rw.length; r++) {
            if (rw[r] === 0) continue;
            for (let j = r * w; j < (r + 1) * w; j++) v[j] += s[j] / rw[r];
          }
        } else {
          // Untouched rows are 0: every update pulls every row by −scale·v as well.
          const p = pulled[pi];
          for (let i = 0; i < v.length; i++) v[i] += (s[i] - p * v[i]) / totalWeight;
        }
      }
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
