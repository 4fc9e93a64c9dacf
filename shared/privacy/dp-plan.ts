/**
 * A differential-privacy plan for one model: what the operator (`flock serve`) or the
 * researcher (`flock simulate`) asked for, resolved to the numbers the mechanism and the
 * accountant run with.
 *
 * Exactly one of
 * - noiseMultiplier z: the budget is then the ε that `rounds` rounds at sampling rate q cost;
 * - targetEpsilon ε: z is the smallest noise that keeps `rounds` rounds within ε
 *   (noise-for-epsilon.ts), and ε is the budget.
 * δ defaults to 1 / population^1.1 — below 1/population, the rate at which "release one
 * person's data in the clear" would still satisfy (ε, δ)-DP (a common rule, e.g.
 * Ponomareva et al. 2023, "How to DP-fy ML", §5.2).
 *
 * The accountant charges every released round as one Poisson-sampled Gaussian mechanism
 * (rdp-sampled-gaussian.ts) at the rate the round was actually sampled with; the budget
 * refuses a round that would take the spent ε above the budget (privacy-budget.ts).
 */
import { FlockError } from '../errors.ts';
import type { DpConversion } from './rdp-to-dp.ts';
import { epsilonForNoise, noiseMultiplierForEpsilon } from './noise-for-epsilon.ts';

export interface DpRequest {
  readonly noiseMultiplier?: number;
  readonly targetEpsilon?: number;
  /** Undefined: defaultDelta(population). */
  readonly delta?: number;
  /** The round budget: rounds the plan is sized for, and never exceeded. */
  readonly rounds: number;
  /** q: the Poisson sampling rate of a round (expected cohort / population). */
  readonly samplingRate: number;
  /** The population the guarantee is stated for (participants who may ever be sampled). */
  readonly population: number;
  readonly conversion?: DpConversion;
}

export interface DpPlan {
  readonly noiseMultiplier: number;
  readonly delta: number;
  readonly samplingRate: number;
  readonly population: number;
  /** m = q × population: the fixed denominator of DP-FedAvg. */
  readonly expectedCohort: number;
  readonly rounds: number;
  /** The ε the spent privacy may never exceed. */
  readonly epsilonBudget: number;
  readonly conversion: DpConversion;
}

export const DEFAULT_DP_CONVERSION: DpConversion = 'balle2020';

export function defaultDelta(population: number): number {
  return population ** -1.1;
}

export function planDp(r: DpRequest): DpPlan {
  const given = (x: number | undefined) => x !== undefined;
  if (given(r.noiseMultiplier) === given(r.targetEpsilon)) {
    throw new FlockError('bad-config', 'differential privacy needs exactly one of a noise multiplier (--dp-noise z) or a target ε (--target-epsilon)');
  }
  if (!(Number.isInteger(r.population) && r.population >= 1)) throw new FlockError('bad-config', `DP population must be a positive integer, got ${r.population}`);
  if (!(r.samplingRate > 0 && r.samplingRate <= 1)) throw new FlockError('bad-config', `DP sampling rate must be in (0, 1], got ${r.samplingRate}`);
  if (!(Number.isInteger(r.rounds) && r.rounds >= 1)) throw new FlockError('bad-config', `DP round budget must be a positive integer, got ${r.rounds}`);
  if (r.samplingRate * r.population < 1) {
    throw new FlockError('bad-config', `DP expects q × population = ${r.samplingRate} × ${r.population} < 1 participant per round: raise the sampling rate or the population`);
  }
  const delta = r.delta ?? defaultDelta(r.population);
  if (!(delta > 0 && delta < 1)) throw new FlockError('bad-config', `δ must be in (0, 1), got ${delta}`);
  const conversion = r.conversion ?? DEFAULT_DP_CONVERSION;
  const common = { q: r.samplingRate, steps: r.rounds, delta, conversion };
  let noiseMultiplier: number;
  let epsilonBudget: number;
  if (r.targetEpsilon !== undefined) {
    if (!(Number.isFinite(r.targetEpsilon) && r.targetEpsilon > 0)) throw new FlockError('bad-config', `target ε must be a positive number, got ${r.targetEpsilon}`);
    epsilonBudget = r.targetEpsilon;
    noiseMultiplier = noiseMultiplierForEpsilon({ ...common, targetEpsilon: r.targetEpsilon });
  } else {
    noiseMultiplier = r.noiseMultiplier!;
    if (!(Number.isFinite(noiseMultiplier) && noiseMultiplier > 0)) throw new FlockError('bad-config', `DP noise multiplier must be a positive number, got ${noiseMultiplier}`);
    epsilonBudget = epsilonForNoise({ ...common, noiseMultiplier });
  }
  return {
    noiseMultiplier,
    delta,
    samplingRate: r.samplingRate,
    population: r.population,
    expectedCohort: r.samplingRate * r.population,
    rounds: r.rounds,
    epsilonBudget,
    conversion,
  };
}

/** One line for logs and --help. */
export function describeDpPlan(p: DpPlan): string {
  return (
    `DP-FedAvg: noise multiplier z = ${p.noiseMultiplier.toFixed(4)}, sampling rate q = ${p.samplingRate.toPrecision(4)} of ${p.population} ` +
    `(fixed denominator ${p.expectedCohort.toPrecision(4)}), at most ${p.rounds} rounds, budget (ε = ${p.epsilonBudget.toFixed(3)}, δ = ${p.delta.toExponential(2)})`
  );
}
