/**
 * User-level DP-FedAvg: the `noise` stage of the aggregation pipeline (McMahan, Ramage,
 * Talwar & Zhang 2018, "Learning Differentially Private Recurrent Language Models",
 * Algorithm 1 with the fixed-denominator estimator f̃_f).
 *
 * Every participant's update is clipped to ‖Δ_k‖₂ ≤ C and weighs exactly 1 (uniform
 * weighting), so adding or removing one person changes the round's SUM Σ_k Δ_k by at
 * most C in L2. The coordinator releases
 *
 *     Δ̃ = (Σ_k Δ_k + N(0, (z_Δ·C)² I)) / m
 *
 * with m the EXPECTED cohort (q × population), fixed before the round — never the number
 * that actually arrived, which depends on who is in the data. Every GLOBAL coordinate is
 * noised, including embedding rows nobody touched, so the release is dense.
 *
 * What does not compose, and is refused with FlockError('bad-config'):
 * - combine rules other than 'mean': a trimmed mean, median or centered clipping of the
 *   round has no sensitivity bound the Gaussian mechanism can use with this denominator;
 * - weighting other than 'uniform': weights min(n, K) scale one person's contribution to K·C;
 * - row normalisation: dividing each embedding row by the number of clients that touched
 *   it makes the denominator depend on the data (one person moves it by 1 for every row
 *   they touched); the row counts would need their own noise and budget. Under DP the
 *   rows are averaged over the fixed cohort m like every other coordinate
 *   (shared/privacy/README.md measures what that costs).
 *
 * The accountant (shared/privacy/) charges each round as a sampled Gaussian mechanism
 * with noise multiplier z — the whole release's, which is z_Δ when the clip bound is fixed
 * and less than z_Δ with adaptive clipping (adaptive-clipping.ts splits it).
 */
import { FlockError } from '../errors.ts';
import type { GaussianNoise } from '../random/gaussian-noise.ts';
import type { AggregationSettings } from './aggregation-settings.ts';
import { updateNoiseMultiplier, type AdaptiveClipSettings } from './adaptive-clipping.ts';

export interface DpFedAvgSettings {
  /** z: the noise multiplier the accountant charges per round (> 0). */
  readonly noiseMultiplier: number;
  /** m: the fixed denominator, the expected number of participants per round (> 0). */
  readonly expectedCohort: number;
  /** Andrew et al. 2021: the clip bound follows a quantile of the update norms. */
  readonly adaptiveClip?: AdaptiveClipSettings;
}

/** Refuses settings DP-FedAvg's sensitivity argument does not cover, with the reason. */
export function checkDpFedAvg(agg: AggregationSettings, dp: DpFedAvgSettings): void {
  if (!(Number.isFinite(dp.noiseMultiplier) && dp.noiseMultiplier > 0)) throw new FlockError('bad-config', `DP noise multiplier must be a positive number, got ${dp.noiseMultiplier}`);
  if (!(Number.isFinite(dp.expectedCohort) && dp.expectedCohort > 0)) throw new FlockError('bad-config', `DP expected cohort (the fixed denominator) must be positive, got ${dp.expectedCohort}`);
  if (agg.combine.kind !== 'mean') {
    throw new FlockError('bad-config', `differential privacy needs the 'mean' combine rule (a noised sum over a fixed denominator); '${agg.combine.kind}' has no sensitivity bound the accountant can use`);
  }
  if (agg.weighting.kind !== 'uniform') {
    throw new FlockError('bad-config', `differential privacy needs 'uniform' weighting: with ${agg.weighting.kind} one person's update can weigh more than 1 and its sensitivity exceeds the clip bound`);
  }
  if (agg.rowNormalize) {
    throw new FlockError('bad-config', 'differential privacy needs row normalisation off: per-row client counts depend on the data (use the fixed cohort as every row\'s denominator)');
  }
  updateNoiseMultiplier(dp.noiseMultiplier, dp.adaptiveClip, dp.expectedCohort); // throws when the split is impossible
}

/**
 * Δ̃ = (sum + N(0, (z_Δ·C)²)) / m for every tensor of `sum` (float64 sums in, float32
 * deltas out). Returns the release and the per-coordinate standard deviation of its noise.
 */
export function noisedMean(
  sum: ReadonlyMap<string, Float64Array>,
  clipNorm: number,
  updateNoise: number,
  expectedCohort: number,
  noise: GaussianNoise,
): { delta: Record<string, Float32Array>; noiseStd: number } {
  const std = updateNoise * clipNorm;
  const delta: Record<string, Float32Array> = {};
  for (const [name, s] of sum) {
    const noised = Float64Array.from(s);
    noise.addTo(noised, std);
    const out = new Float32Array(noised.length);
    for (let i = 0; i < out.length; i++) out[i] = noised[i] / expectedCohort;
    delta[name] = out;
  }
  return { delta, noiseStd: std / expectedCohort };
}
