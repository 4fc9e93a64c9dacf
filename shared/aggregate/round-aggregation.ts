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
 * - noise: not built. Differential privacy plugs in at result(), between combine and the
 *   server optimizer (calibrated to clipNorm and the weights' bound), see the marked line.
 *
 * add()/addDelta() either fold the update in completely or throw FlockError and change
 * nothing. Memory: 'mean' streams (O(model)); the other rules keep each update (row-sparse
 * tables as their touched rows) and refuse beyond opts.maxUpdates (default
 * DEFAULT_MAX_STORED_UPDATES) with FlockError('too-large').
 */
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { checkDeltaAgainstSpec, checkNumExamples, deltaFromUpdate, type DeltaTensors } from '../update/check-update.ts';
import type { RowSparseTensor } from '../update/row-sparse-clip.ts';
import type { ModelUpdate } from '../update/tensor-codec.ts';
import { checkAggregationSettings, type AggregationSettings } from './aggregation-settings.ts';
import { boundUpdateNorm } from './bound-update-norm.ts';
import { createCombiner, type Combiner } from './combine-rule.ts';
import { weightOf } from './example-weight.ts';

export class RoundAggregation {
  readonly settings: AggregationSettings;
  private readonly combiner: Combiner;

  constructor(
    private readonly spec: ModelSpec,
    settings: AggregationSettings,
    opts?: { maxUpdates?: number },
  ) {
    checkAggregationSettings(settings);
    if (opts?.maxUpdates !== undefined && !(opts.maxUpdates >= 1)) throw new FlockError('bad-config', `maxUpdates must be at least 1, got ${opts.maxUpdates}`);
    this.settings = settings;
    this.combiner = createCombiner(spec, settings, opts?.maxUpdates);
  }

  /** A decoded client update: validate → weight → bound → combine. Returns the weight given. */
  add(update: ModelUpdate): { weight: number } {
    this.combiner.checkRoom();
    const { delta, norm } = deltaFromUpdate(this.spec, update, this.settings.clipNorm);
    return this.fold(delta, norm, update.numExamples);
  }

  /** The same stages for a delta already in memory (dense or row-sparse per tensor). */
  addDelta(delta: Readonly<Record<string, Float32Array | RowSparseTensor>>, numExamples: number): { weight: number } {
    this.combiner.checkRoom();
    checkNumExamples(numExamples);
    const norm = checkDeltaAgainstSpec(this.spec, delta, this.settings.clipNorm);
    return this.fold(delta, norm, numExamples);
  }

  private fold(delta: DeltaTensors, norm: number, numExamples: number): { weight: number } {
    const weight = weightOf(this.settings.weighting, numExamples);
    const bounded = boundUpdateNorm(delta, norm, this.settings.clipNorm);
    this.combiner.add(bounded, weight);
    return { weight };
  }

  get count(): number {
    return this.combiner.count;
  }

  /** Summed weight of the accepted updates. */
  get totalWeight(): number {
    return this.combiner.totalWeight;
  }

  /** The combined delta the server optimizer steps on. */
  result(): NamedTensors {
    if (this.combiner.count === 0) throw new FlockError('robust-rule', 'no update was accepted this round: nothing to combine');
    const combined = this.combiner.result();
    // ── noise stage (DP) goes here: combined ← combined + N(0, σ²·C²/…) before the server step.
    return combined;
  }
}
