/**
 * Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy 2021, "Differentially Private
 * Learning with Adaptive Clipping", Algorithm 1, geometric update).
 *
 * Instead of a hand-tuned clip bound C, C tracks the γ-quantile of the participants'
 * update norms. Each participant contributes b_k = 1{‖Δ_k‖ ≤ C} (Flock derives it from
 * the preClipNorm every update carries); the coordinator releases the noised fraction
 *
 *     b̃ = (Σ_k (b_k − ½) + N(0, σ_b²)) / m + ½        (centred: sensitivity ½)
 *
 * and sets C ← C · exp(−η (b̃ − γ)) for the next round. Releasing the count costs
 * privacy too: the round is ONE Gaussian mechanism over (Δ-sum / C, count / ½) with noise
 * multiplier z when the update sum is noised with
 *
 *     z_Δ = (z⁻² − (2σ_b)⁻²)^(−½)                      (the paper's Theorem 1)
 *
 * so the accountant keeps charging z per round. Defaults: γ = 0.5, η = 0.2 and
 * σ_b = m/20, as the paper recommends.
 */
import { FlockError } from '../errors.ts';
import type { GaussianNoise } from '../random/gaussian-noise.ts';

export interface AdaptiveClipSettings {
  /** γ in (0, 1): the quantile of update norms the clip bound tracks. */
  readonly targetQuantile: number;
  /** η > 0: the geometric learning rate. */
  readonly learningRate: number;
  /** σ_b ≥ 0 in counts; undefined = expectedCohort / 20. */
  readonly countNoise?: number;
}

export const DEFAULT_ADAPTIVE_CLIP: AdaptiveClipSettings = { targetQuantile: 0.5, learningRate: 0.2 };

export function countNoiseOf(s: AdaptiveClipSettings, expectedCohort: number): number {
  return s.countNoise ?? expectedCohort / 20;
}

/**
 * z_Δ, the multiplier the update sum is noised with, so that the round as a whole is a
 * Gaussian mechanism with multiplier z. Without adaptive clipping, z itself.
 */
export function updateNoiseMultiplier(z: number, adaptive: AdaptiveClipSettings | undefined, expectedCohort: number): number {
  if (!adaptive) return z;
  const { targetQuantile: g, learningRate: eta } = adaptive;
  if (!(g > 0 && g < 1)) throw new FlockError('bad-config', `adaptive clipping's target quantile must be in (0, 1), got ${g}`);
  if (!(Number.isFinite(eta) && eta > 0)) throw new FlockError('bad-config', `adaptive clipping's learning rate must be positive, got ${eta}`);
  const sigmaB = countNoiseOf(adaptive, expectedCohort);
  if (!(sigmaB > 0)) throw new FlockError('bad-config', `adaptive clipping needs count noise σ_b > 0, got ${sigmaB}`);
  const rest = z ** -2 - (2 * sigmaB) ** -2;
  if (!(rest > 0)) {
    throw new FlockError(
      'bad-config',
      `adaptive clipping: noise multiplier ${z} is too small for count noise σ_b = ${sigmaB} (needs z < 2σ_b = ${2 * sigmaB}); raise the noise, the cohort or σ_b`,
    );
  }
  return rest ** -0.5;
}

/** The next round's clip bound from this round's bits b_k (count of updates with ‖Δ‖ ≤ C among `count`). */
export function nextClipNorm(
  clipNorm: number,
  below: number,
  count: number,
  expectedCohort: number,
  s: AdaptiveClipSettings,
  noise: GaussianNoise,
): { clipNorm: number; noisedFractionBelow: number } {
  const centred = below - count / 2 + noise.sample(countNoiseOf(s, expectedCohort));
  const fraction = centred / expectedCohort + 0.5;
  return { clipNorm: clipNorm * Math.exp(-s.learningRate * (fraction - s.targetQuantile)), noisedFractionBelow: fraction };
}
