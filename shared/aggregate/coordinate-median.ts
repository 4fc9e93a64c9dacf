/**
 * 'median': the coordinate-wise median of Yin, Chen, Ramchandran & Bartlett 2018,
 * "Byzantine-Robust Distributed Learning: Towards Optimal Statistical Rates" (ICML),
 * weighted: each coordinate takes the value where the cumulative weight reaches half of
 * the round's (midpoint on an exact tie, so equal weights give the textbook median).
 * Tolerates anything short of half the weight being arbitrary in a coordinate, at the
 * price of statistical efficiency (the median of honest, heterogeneous updates is not
 * their mean). Keeps every update (StoredUpdates); row-sparse tables are combined per row
 * over the clients that touched the row (coordinate-wise.ts explains why).
 */
import type { ModelSpec } from '../model/model-spec.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { DeltaTensors } from '../update/check-update.ts';
import type { Combiner } from './combine-rule.ts';
import { combineCoordinateWise } from './coordinate-wise.ts';
import { StoredUpdates } from './stored-updates.ts';
import { weightedMedian } from './weighted-order-statistics.ts';

export class CoordinateMedianCombine implements Combiner {
  readonly storesUpdates = true;
  private readonly stored: StoredUpdates;

  constructor(spec: ModelSpec, private readonly rowNormalize: boolean, maxUpdates: number) {
    this.stored = new StoredUpdates(spec, maxUpdates);
  }

  get count(): number {
    return this.stored.count;
  }

  get totalWeight(): number {
    return this.stored.totalWeight;
  }

  checkRoom(): void {
    this.stored.checkRoom();
  }

  add(delta: DeltaTensors, weight: number): void {
    this.stored.add(delta, weight);
  }

  result(): NamedTensors {
    return combineCoordinateWise(this.stored, this.rowNormalize, weightedMedian);
  }
}
