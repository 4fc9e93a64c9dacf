/**
 * What a securely aggregated round hands the server optimizer: the same stages as
 * shared/aggregate/round-aggregation.ts from "combine" on, fed with the unmasked SUM
 * instead of individual updates (the coordinator never had those):
 *
 *   combine  'mean' with uniform weights: Σ_k Δ_k / K over the K survivors whose masked
 *            input is in the sum (each Δ_k clipped to C on its device before masking);
 *   noise    with DP, DP-FedAvg's release (dp-fedavg.ts noisedMean, McMahan et al. 2018):
 *            (Σ_k Δ_k + N(0, (z·C)²)) / m, m the plan's fixed cohort — the same function
 *            the plain pipeline calls. Without a sum (too few survivors) a DP round still
 *            releases the noise alone, as RoundAggregation does.
 *
 * Adaptive clipping is refused with secure aggregation (secure-round-settings.ts), so
 * z_Δ = z here. The result is computed once (the noise is drawn once).
 */
import type { DpRelease, RoundDp } from '../../shared/aggregate/round-aggregation.ts';
import { noisedMean } from '../../shared/aggregate/dp-fedavg.ts';
import { updateNoiseMultiplier } from '../../shared/aggregate/adaptive-clipping.ts';
import { FlockError } from '../../shared/errors.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import type { SecAggSum } from '../../shared/secagg/secagg-server.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { globalVectorLength, unflattenGlobals } from '../../shared/update/flat-global-vector.ts';

/** What the round engine's publish step reads from a round's aggregation (RoundAggregation has the same two methods). */
export interface RoundRelease {
  result(): NamedTensors;
  dpRelease(): DpRelease | undefined;
}

export class SecureSumRelease implements RoundRelease {
  private released: { delta: NamedTensors; dp?: DpRelease } | undefined;

  /** `sum`: the unmasked sum, or null when the round could not be unmasked. */
  constructor(
    private readonly spec: ModelSpec,
    private readonly sum: SecAggSum | null,
    private readonly clipNorm: number,
    private readonly dp?: RoundDp,
  ) {
    if (dp?.adaptiveClip) throw new FlockError('bad-config', 'adaptive clipping cannot be used with secure aggregation');
    if (sum && sum.sum.length !== globalVectorLength(spec)) throw new FlockError('wrong-shape', `the unmasked sum has ${sum.sum.length} coordinates, the ${spec.kind} model ${globalVectorLength(spec)}`);
  }

  /** Updates in the sum. */
  get count(): number {
    return this.sum?.summands ?? 0;
  }

  result(): NamedTensors {
    return this.release().delta;
  }

  dpRelease(): DpRelease | undefined {
    return this.release().dp;
  }

  private release(): { delta: NamedTensors; dp?: DpRelease } {
    if (this.released) return this.released;
    const sums = unflattenGlobals(this.spec, this.sum?.sum ?? new Float64Array(globalVectorLength(this.spec)));
    if (this.dp) {
      const z = updateNoiseMultiplier(this.dp.noiseMultiplier, undefined, this.dp.expectedCohort);
      const { delta, noiseStd } = noisedMean(sums, this.clipNorm, z, this.dp.expectedCohort, this.dp.noise);
      return (this.released = { delta, dp: { noiseStd, clipNorm: this.clipNorm } });
    }
    const k = this.count;
    if (k === 0) throw new FlockError('robust-rule', 'the round was not unmasked: nothing to combine');
    const delta: NamedTensors = {};
    for (const [name, s] of sums) {
      const out = new Float32Array(s.length);
      for (let i = 0; i < s.length; i++) out[i] = s[i] / k;
      delta[name] = out;
    }
    return (this.released = { delta });
  }
}
