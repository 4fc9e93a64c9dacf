/**
 * A COMPUTED projection (no training): what DP-FedAvg's noise would be in a deployment
 * larger than ML-100K, from the accountant alone, and how many participants per round
 * keep a measured utility loss.
 *
 * The quantity that transfers between deployments of the same model is the noise std
 * on every coordinate of the released mean delta in units of the clip bound C:
 * σ/C = z/m (dp-fedavg.ts: (Σ Δ + N(0, (zC)²))/m). At the same C, the same local
 * training and the same number of rounds, the signal (the mean clipped update) has the
 * same scale whatever m is, so a run whose σ/C is at or below one measured on ML-100K
 * should lose no more utility — assuming the larger population's updates look like
 * ML-100K's (same catalogue size and taste structure), which the projection cannot check.
 *
 * For population N, cohort m (q = m/N, Poisson sampling), `rounds` rounds and δ, the
 * accountant gives the z that spends ε (noiseMultiplierForEpsilon), hence σ/C = z/m.
 */
import { noiseMultiplierForEpsilon } from '../../shared/privacy/noise-for-epsilon.ts';

export interface ProjectionRow {
  readonly population: number;
  readonly cohort: number;
  readonly samplingRate: number;
  readonly rounds: number;
  readonly epsilon: number;
  readonly delta: number;
  readonly noiseMultiplier: number;
  /** z/m: the noise std per coordinate of the released mean, in units of C. */
  readonly noiseStdOverClip: number;
}

export function projectNoise(o: { population: number; cohort: number; rounds: number; epsilon: number; delta: number }): ProjectionRow {
  const q = Math.min(1, o.cohort / o.population);
  const z = noiseMultiplierForEpsilon({ q, targetEpsilon: o.epsilon, steps: o.rounds, delta: o.delta });
  return { population: o.population, cohort: o.cohort, samplingRate: q, rounds: o.rounds, epsilon: o.epsilon, delta: o.delta, noiseMultiplier: z, noiseStdOverClip: z / o.cohort };
}

/**
 * The smallest cohort m (participants per round, 1 ≤ m ≤ population) whose σ/C at (ε, δ)
 * over `rounds` rounds is at most `maxNoiseStdOverClip`; undefined when even m =
 * population (q = 1) is noisier. z/m falls as m grows (more participants per unit of
 * noise), so a bisection on m finds it.
 */
export function cohortForNoise(o: { population: number; rounds: number; epsilon: number; delta: number; maxNoiseStdOverClip: number }): ProjectionRow | undefined {
  const at = (m: number) => projectNoise({ population: o.population, cohort: m, rounds: o.rounds, epsilon: o.epsilon, delta: o.delta });
  const top = at(o.population);
  if (top.noiseStdOverClip > o.maxNoiseStdOverClip) return undefined;
  let lo = 1;
  let hi = o.population; // at(hi) is within
  if (at(lo).noiseStdOverClip <= o.maxNoiseStdOverClip) return at(lo);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (at(mid).noiseStdOverClip <= o.maxNoiseStdOverClip) hi = mid;
    else lo = mid;
  }
  return at(hi);
}

/**
 * From measured (σ/C, HR@10) points and the no-DP HR@10: the largest measured σ/C such
 * that it and every smaller measured σ/C stay within `maxLoss` (relative) of no-DP;
 * undefined when even the smallest does not.
 */
export function noiseThreshold(points: readonly { noiseStdOverClip: number; hr10: number }[], noDpHr10: number, maxLoss = 0.05): number | undefined {
  let best: number | undefined;
  for (const p of [...points].sort((a, b) => a.noiseStdOverClip - b.noiseStdOverClip)) {
    if (p.hr10 < (1 - maxLoss) * noDpHr10) break;
    best = p.noiseStdOverClip;
  }
  return best;
}
