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
import { combineCoordinateWise } from './coordinate-wise.ts';
import { StoringCombine } from './storing-combine.ts';
import { weightedMedian } from './weighted-order-statistics.ts';

export class CoordinateMedianCombine extends StoringCombine {

  constructor(spec: ModelSpec, private readonly rowNormalize: boolean, maxUpdates: number) {
    super(spec, maxUpdates);
  }

  protected override combine(): NamedTensors {
    return combineCoordinateWise(this.stored, this.rowNormalize, weightedMedian);
  }
}
