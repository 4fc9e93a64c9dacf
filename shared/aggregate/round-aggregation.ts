/**
 * One round's aggregation, the same code in the coordinator's round engine and the
 * in-process simulation (DESIGN.md, "The data path"):
 *
 *   validate → weight → bound → combine → [noise] → server optimizer
 *
 * - validate (shared/update/check-update.ts): exactly the GLOBAL tensors, right shapes,
 *   finite values, ‖Δ‖₂ ≤ clipNorm (float32 tolerance), numExamples a positive integer
 *   ≤ MAX_NUM_EXAMPLES; plus room in this round (maxUpdates). Round, version, identity
 *   and selection are the round engine's checks, before add().
 * - weight (example-weight.ts): the server's policy on the claimed numExamples.
 * - bound (bound-update-norm.ts): re-clip to clipNorm.
 * - combine (combine-rule.ts): mean, trimmed mean, median or centered clipping.
 * - noise (dp-fedavg.ts, with opts.dp): DP-FedAvg (McMahan et al. 2018) — the combine
 *   stage is then the weighted SUM (uniform weights, no row normalisation, 'mean' only),
 *   and result() releases (sum + N(0, (z_Δ·C)²)) / m with m the fixed expected cohort;
 *   with adaptive clipping (adaptive-clipping.ts, Andrew et al. 2021) it also releases
 *   the noised fraction of updates whose preClipNorm ≤ C and the next round's C. A DP
 *   round with no update releases the noise alone (without DP: FlockError 'robust-rule').
 *
 * add()/addDelta() either fold the update in completely or throw FlockError and change
 * nothing. Memory: 'mean' streams (O(model)); the other rules keep each update (row-sparse
 * tables as their touched rows) and refuse beyond opts.maxUpdates (default
 * DEFAULT_MAX_STORED_UPDATES) with FlockError('too-large').
 */
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { checkDeltaAgainstSpec, checkNumExamples, checkPreClipNorm, deltaFromUpdate, type DeltaTensors } from '../update/check-update.ts';
import type { RowSparseTensor } from '../update/row-sparse-clip.ts';
import type { ModelUpdate } from '../update/tensor-codec.ts';
import { checkAggregationSettings, type AggregationSettings } from './aggregation-settings.ts';
import { boundUpdateNorm } from './bound-update-norm.ts';
import { createCombiner, type Combiner } from './combine-rule.ts';
import { weightOf } from './example-weight.ts';
import { checkDpFedAvg, noisedMean, type DpFedAvgSettings } from './dp-fedavg.ts';
import { nextClipNorm, updateNoiseMultiplier } from './adaptive-clipping.ts';
import { MeanCombine } from './mean-combine.ts';
import type { GaussianNoise } from '../random/gaussian-noise.ts';

/** Differential privacy for one round: DP-FedAvg's settings and where its noise comes from. */
export interface RoundDp extends DpFedAvgSettings {
  readonly noise: GaussianNoise;
}

/** What the noise stage released besides the delta (only with DP). */
export interface DpRelease {
  /** z_Δ·C / m: the standard deviation of the noise on every coordinate of the released delta. */
  readonly noiseStd: number;
  /** The clip bound this round used. */
  readonly clipNorm: number;
  /** With adaptive clipping: the noised fraction of updates at or below C, and next round's C. */
  readonly noisedFractionBelow?: number;
  readonly nextClipNorm?: number;
}

export class RoundAggregation {
  readonly settings: AggregationSettings;
  private readonly combiner: Combiner;
  private readonly dp: RoundDp | undefined;
  /** Adaptive clipping's bits: updates whose client-reported pre-clip norm was ≤ C. */
  private below = 0;
  private released: { delta: NamedTensors; dp?: DpRelease } | undefined;

  constructor(
    private readonly spec: ModelSpec,
    settings: AggregationSettings,
    opts?: { maxUpdates?: number; dp?: RoundDp },
  ) {
    checkAggregationSettings(settings);
    if (opts?.maxUpdates !== undefined && !(opts.maxUpdates >= 1)) throw new FlockError('bad-config', `maxUpdates must be at least 1, got ${opts.maxUpdates}`);
    if (opts?.dp) checkDpFedAvg(settings, opts.dp);
    this.settings = settings;
    this.dp = opts?.dp;
    this.combiner = createCombiner(spec, settings, opts?.maxUpdates);
  }

  /**
   * A decoded client update: validate → weight → bound → combine. Returns the weight given.
   * Its arrays may be views into the received bytes (decodeUpdate's `views`): nothing of
   * them is kept after add() returns (the streaming mean folds them, the storing rules copy).
   */
  add(update: ModelUpdate): { weight: number } {
    this.checkOpen();
    this.combiner.checkRoom();
    checkPreClipNorm(update.preClipNorm);
    // Row-sparse tensors stay row-sparse (validated and folded row by row); dense ones are
    // checked in one pass (finite and norm together) before the fold.
    const { delta, norm } = deltaFromUpdate(this.spec, update, this.settings.clipNorm);
    return this.fold(delta, norm, update.numExamples, update.preClipNorm);
  }

  /**
   * The same stages for a delta already in memory (dense or row-sparse per tensor).
   * `preClipNorm` (the client's norm before clipping) feeds adaptive clipping; without it
   * the update counts as above the bound.
   */
  addDelta(delta: Readonly<Record<string, Float32Array | RowSparseTensor>>, numExamples: number, preClipNorm = Infinity): { weight: number } {
    this.checkOpen();
    this.combiner.checkRoom();
    checkNumExamples(numExamples);
    const norm = checkDeltaAgainstSpec(this.spec, delta, this.settings.clipNorm);
    return this.fold(delta, norm, numExamples, preClipNorm);
  }

  private checkOpen(): void {
    if (this.released) throw new FlockError('late', 'this round\'s aggregate has already been released');
  }

  private fold(delta: DeltaTensors, norm: number, numExamples: number, preClipNorm: number): { weight: number } {
    const weight = weightOf(this.settings.weighting, numExamples);
    const clipNorm = this.settings.clipNorm;
    // The streaming mean folds the bound stage's rescaling in (same float32 values, no copy).
    if (this.combiner instanceof MeanCombine) this.combiner.addScaled(delta, weight, norm > clipNorm ? clipNorm / norm : 1);
    else this.combiner.add(boundUpdateNorm(delta, norm, clipNorm), weight);
    if (preClipNorm <= this.settings.clipNorm) this.below++;
    return { weight };
  }

  get count(): number {
    return this.combiner.count;
  }

  /** Summed weight of the accepted updates. */
  get totalWeight(): number {
    return this.combiner.totalWeight;
  }

  /**
   * The combined delta the server optimizer steps on. With DP it is computed once: the
   * noise is drawn once, later calls return the same release and add() is refused after it.
   */
  result(): NamedTensors {
    return this.release().delta;
  }

  /** With DP: the noise and clip-bound facts of the release (result() first computes it). */
  dpRelease(): DpRelease | undefined {
    return this.release().dp;
  }

  private release(): { delta: NamedTensors; dp?: DpRelease } {
    if (this.released) return this.released;
    const dp = this.dp;
    if (!dp) {
      if (this.combiner.count === 0) throw new FlockError('robust-rule', 'no update was accepted this round: nothing to combine');
      return { delta: this.combiner.result() };
    }
    // Under DP a round with no update still releases (the noise alone): withholding it
    // would tell whoever watches that nobody was sampled or came, which the accountant
    // does not cover.
    // Noise stage: DP-FedAvg over the weighted sum (the combiner is MeanCombine: checkDpFedAvg).
    const sums = (this.combiner as MeanCombine).weightedSums();
    const clipNorm = this.settings.clipNorm;
    const zDelta = updateNoiseMultiplier(dp.noiseMultiplier, dp.adaptiveClip, dp.expectedCohort);
    const { delta, noiseStd } = noisedMean(sums, clipNorm, zDelta, dp.expectedCohort, dp.noise);
    let release: DpRelease = { noiseStd, clipNorm };
    if (dp.adaptiveClip) {
      const next = nextClipNorm(clipNorm, this.below, this.combiner.count, dp.expectedCohort, dp.adaptiveClip, dp.noise);
      release = { ...release, noisedFractionBelow: next.noisedFractionBelow, nextClipNorm: next.clipNorm };
    }
    return (this.released = { delta, dp: release });
  }
}
