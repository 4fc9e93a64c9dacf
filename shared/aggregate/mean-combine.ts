/**
 * 'mean': the weighted mean of FedAvg (McMahan, Moore, Ramage, Hampson & Agüera y Arcas
 * 2017, "Communication-Efficient Learning of Deep Networks from Decentralized Data"),
 * streamed through StreamingWeightedMean: O(model) memory however many updates arrive;
 * with rowNormalize each embedding row is averaged over the updates that touched it.
 * Not robust: one update moves the mean by its weight share × its norm.
 */
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { DeltaTensors } from '../update/check-update.ts';
import type { Combiner } from './combiner.ts';
import { StreamingWeightedMean } from './streaming-weighted-mean.ts';

export class MeanCombine implements Combiner {
  readonly storesUpdates = false;
  private readonly acc: StreamingWeightedMean;

  constructor(spec: ModelSpec, rowNormalize: boolean, private readonly maxUpdates: number) {
    this.acc = new StreamingWeightedMean(spec, { rowNormalize });
  }

  get count(): number {
    return this.acc.count;
  }

  get totalWeight(): number {
    return this.acc.totalWeight;
  }

  checkRoom(): void {
    if (this.acc.count >= this.maxUpdates) throw new FlockError('too-large', `this round already holds ${this.maxUpdates} updates (maxUpdates)`);
  }

  add(delta: DeltaTensors, weight: number): void {
    this.acc.addRows(delta, weight);
  }

  /**
   * add() of the delta scaled by `scale` in float32 (the bound stage's re-clip), folded
   * without the scaled copy; bit-identical to add(scaleDelta(delta, scale), weight).
   */
  addScaled(delta: DeltaTensors, weight: number, scale: number): void {
    // Validated by the pipeline (checkDeltaAgainstSpec), weight and scale positive: fold without re-checking.
    if (!(weight > 0 && weight < Infinity && scale > 0 && scale < Infinity)) throw new FlockError('malformed', `weight and scale must be positive and finite, got ${weight}, ${scale}`);
    this.acc.addChecked(delta, weight, scale);
  }

  /** Σ_k w_k·Δ_k per GLOBAL tensor, for the DP noise stage (dp-fedavg.ts). */
  weightedSums(): ReadonlyMap<string, Float64Array> {
    return this.acc.sums();
  }

  result(): NamedTensors {
    return this.acc.mean();
  }
}
