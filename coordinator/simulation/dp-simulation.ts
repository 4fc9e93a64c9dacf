/**
 * Differential privacy in the in-process simulation (`flock simulate --dp-noise z |
 * --target-epsilon ε [--delta δ] [--adaptive-clip [γ]]`, MF and SASRec alike): user-level
 * DP-FedAvg (McMahan, Ramage, Talwar & Zhang 2018) with the coordinator's own noise stage
 * (shared/aggregate/dp-fedavg.ts, through RoundAggregation) and accountant
 * (shared/privacy/: planDp, PrivacyBudget — RDP of the Poisson-sampled Gaussian).
 *
 * Protocol, per round r of the run's round budget (`rounds`):
 * - population N = the data set's eligible clients (every user with training data);
 *   sampling rate q = clientsPerRound when ≤ 1, else clientsPerRound / N (capped at 1);
 * - Poisson sampling (poissonSample): every client independently with probability q,
 *   seeded per round — the sampling the accountant's amplification assumes — instead of
 *   the fixed-size sampleParticipants; the cohort size varies around q·N;
 * - the noise stage releases (Σ Δ_k + N(0, (z_Δ C)²)) / m with the FIXED denominator
 *   m = q·N (the plan's expectedCohort), whatever the cohort size; 'mean' combine,
 *   'uniform' weighting and no row normalisation (checkDpFedAvg refuses anything else:
 *   checkSimulationDp says so before the run starts). A round whose Poisson cohort is
 *   empty still releases the noise alone (RoundAggregation under DP), as the mechanism must;
 * - noise: seededGaussianNoise(deriveSeed(seed, r, NOISE_TAG)) — reproducible, which is
 *   right for research only (the coordinator draws from the CSPRNG);
 * - the accountant charges every released round at rate q (PrivacyBudget.charge); each
 *   round's metrics carry the ε spent so far, δ, z, the clip bound and the noise std
 *   (z_Δ·C/m per coordinate of the released mean);
 * - adaptive clipping (Andrew et al. 2021, shared/aggregate/adaptive-clipping.ts): the
 *   clients clip to the current C, every update reports its pre-clip norm, and the next
 *   round's C comes from the noised fraction at or below C.
 *
 * Without `dp` nothing here runs and the simulation is bit-identical to before.
 */
import type { AdaptiveClipSettings } from '../../shared/aggregate/adaptive-clipping.ts';
import type { AggregationSettings } from '../../shared/aggregate/aggregation-settings.ts';
import { checkDpFedAvg } from '../../shared/aggregate/dp-fedavg.ts';
import type { RoundAggregation, RoundDp } from '../../shared/aggregate/round-aggregation.ts';
import { FlockError } from '../../shared/errors.ts';
import { planDp, type DpPlan } from '../../shared/privacy/dp-plan.ts';
import { PrivacyBudget, type SpentPrivacy } from '../../shared/privacy/privacy-budget.ts';
import { seededGaussianNoise } from '../../shared/random/gaussian-noise.ts';
import { poissonSample } from '../rounds/sample-participants.ts';
import { deriveSeed, SeededRandom } from '../../shared/random/seeded-random.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';

/** What a research run asks for: exactly one of noiseMultiplier or targetEpsilon. */
export interface SimulationDp {
  readonly noiseMultiplier?: number;
  readonly targetEpsilon?: number;
  /** Default 1 / population^1.1 (dp-plan.ts). */
  readonly delta?: number;
  /** Adaptive clipping (the run's clipNorm is the initial C). */
  readonly adaptiveClip?: AdaptiveClipSettings;
}

/** The privacy columns of a DP round (flat numbers: they become rounds.csv columns). */
export interface RoundPrivacy {
  /** ε spent after this round, at `delta`. */
  readonly epsilon: number;
  readonly delta: number;
  /** z, the multiplier the accountant charges. */
  readonly noiseMultiplier: number;
  /** The clip bound C this round's clients clipped to. */
  readonly clipNorm: number;
  /** z_Δ·C/m: the noise std on every coordinate of the released mean delta. */
  readonly noiseStd: number;
  /** Adaptive clipping only: the noised fraction of updates at or below C. */
  readonly noisedFractionBelow?: number;
}

/** What a DP run reports besides its rounds (report.json `privacy`). */
export interface SimulationPrivacy {
  readonly plan: DpPlan;
  readonly spent: SpentPrivacy;
  /** Mean Poisson cohort over the rounds (the plan's expectedCohort is its expectation). */
  readonly meanCohort: number;
}

const SAMPLE_TAG = 0x9015;
const NOISE_TAG = 0xd9;

/** q of a run: clientsPerRound as a fraction (≤ 1) or a count (> 1) of the population. */
export function samplingRateFor(clientsPerRound: number, population: number): number {
  if (!(clientsPerRound > 0)) throw new FlockError('bad-config', `clients per round must be positive, got ${clientsPerRound}`);
  return clientsPerRound <= 1 ? clientsPerRound : Math.min(1, clientsPerRound / population);
}

/**
 * Refuses a simulation config DP-FedAvg cannot account for, before anything runs
 * (FlockError 'bad-config' with what to change). The CLI switches the defaults itself
 * (combine → mean, row normalisation off) and says so; an explicit choice is refused here.
 */
export function checkSimulationDp(agg: AggregationSettings, dp: SimulationDp, o: { workers?: number; attack?: boolean } = {}): void {
  if ((dp.noiseMultiplier === undefined) === (dp.targetEpsilon === undefined)) {
    throw new FlockError('bad-config', 'differential privacy needs exactly one of --dp-noise z or --target-epsilon ε');
  }
  if (agg.combine.kind !== 'mean') {
    throw new FlockError('bad-config', `differential privacy needs --combine mean (a noised sum over a fixed denominator); '${agg.combine.kind}' has no sensitivity bound the accountant can use`);
  }
  if (agg.weighting.kind !== 'uniform') {
    throw new FlockError('bad-config', `differential privacy needs --weighting uniform: with ${agg.weighting.kind} one person's update can weigh more than 1`);
  }
  if (agg.rowNormalize) {
    throw new FlockError('bad-config', 'differential privacy needs row normalisation off (--no-row-normalize): per-row client counts depend on the data');
  }
  if (dp.adaptiveClip && (o.workers ?? 1) > 1) {
    throw new FlockError('bad-config', '--adaptive-clip changes the clip bound every round; the worker threads clip at a fixed bound: run it with --workers 1');
  }
  if (o.attack) throw new FlockError('bad-config', 'poisoning experiments (--attack) and differential privacy are not combined in the simulation');
}

/**
 * The DP side of one run's round loop: sampling, the noise stage's options, the clip
 * bound, the accountant. One per run.
 */
export class SimulationDpRounds {
  private cohortSum = 0;
  private roundsRun = 0;

  /** Checks the config, plans (z from a target ε by the accountant) and opens the budget. */
  static create(
    dp: SimulationDp,
    agg: AggregationSettings,
    seed: number,
    o: { population: number; clientsPerRound: number; rounds: number; workers?: number; attack?: boolean },
  ): SimulationDpRounds {
    checkSimulationDp(agg, dp, o);
    const plan = planDp({
      noiseMultiplier: dp.noiseMultiplier,
      targetEpsilon: dp.targetEpsilon,
      delta: dp.delta,
      rounds: o.rounds,
      samplingRate: samplingRateFor(o.clientsPerRound, o.population),
      population: o.population,
    });
    const rounds = new SimulationDpRounds(dp, plan, new PrivacyBudget(plan), agg.clipNorm, seed);
    // Fail now, not at round 1, when adaptive clipping cannot split z.
    checkDpFedAvg(agg, rounds.roundDp(1));
    return rounds;
  }

  private constructor(
    private readonly dp: SimulationDp,
    readonly plan: DpPlan,
    private readonly budget: PrivacyBudget,
    private clip: number,
    private readonly seed: number,
  ) {}

  /** The clip bound of the next round (fixed, or adaptive). */
  get clipNorm(): number {
    return this.clip;
  }

  /** Round r's Poisson cohort. */
  sample<T>(r: number, eligible: readonly T[]): T[] {
    const s = poissonSample(eligible, this.plan.samplingRate, new SeededRandom(deriveSeed(this.seed, r, SAMPLE_TAG)));
    this.cohortSum += s.length;
    return s;
  }

  /** The noise stage's options for round r (RoundAggregation opts.dp). */
  roundDp(r: number): RoundDp {
    return {
      noiseMultiplier: this.plan.noiseMultiplier,
      expectedCohort: this.plan.expectedCohort,
      ...(this.dp.adaptiveClip ? { adaptiveClip: this.dp.adaptiveClip } : {}),
      noise: seededGaussianNoise(deriveSeed(this.seed, r, NOISE_TAG)),
    };
  }

  /**
   * Round r's released delta: the aggregation's noised result (the noise alone over the
   * fixed denominator when the Poisson cohort was empty, as the mechanism releases it).
   * Then the accountant charges the round and the clip bound moves on.
   */
  release(r: number, aggregation: Pick<RoundAggregation, 'result' | 'dpRelease'>): { delta: NamedTensors; privacy: RoundPrivacy } {
    const check = this.budget.check(this.plan.samplingRate);
    if (!check.ok) throw new FlockError('bad-config', `privacy budget exhausted before round ${r}: ${check.reason}`);
    // An empty Poisson cohort releases the noise alone (RoundAggregation does so under DP).
    const delta = aggregation.result();
    const rel = aggregation.dpRelease()!;
    const spent = this.budget.charge(this.plan.samplingRate);
    this.roundsRun++;
    const usedClip = this.clip;
    if (rel.nextClipNorm !== undefined) this.clip = rel.nextClipNorm;
    const privacy: RoundPrivacy = {
      epsilon: spent.epsilon,
      delta: spent.delta,
      noiseMultiplier: this.plan.noiseMultiplier,
      clipNorm: usedClip,
      noiseStd: rel.noiseStd,
      ...(rel.noisedFractionBelow !== undefined ? { noisedFractionBelow: rel.noisedFractionBelow } : {}),
    };
    return { delta, privacy };
  }

  summary(): SimulationPrivacy {
    return { plan: this.plan, spent: this.budget.spent, meanCohort: this.roundsRun > 0 ? this.cohortSum / this.roundsRun : 0 };
  }
}
