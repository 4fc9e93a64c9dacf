/**
 * 'trimmed-mean:β': the coordinate-wise trimmed mean of Yin, Chen, Ramchandran & Bartlett
 * 2018, "Byzantine-Robust Distributed Learning: Towards Optimal Statistical Rates" (ICML):
 * for every coordinate, drop the β fraction of largest and of smallest values and average
 * the rest. Weighted here: β of the round's weight is trimmed at each end (a boundary
 * update partly), so with equal weights it is the paper's rule (β·n an integer) and a
 * heavy update cannot escape trimming by weight. Tolerates up to a β fraction of the
 * weight being arbitrary in any one coordinate. Keeps every update (StoredUpdates);
 * row-sparse tables are combined per row over the clients that touched the row
 * (coordinate-wise.ts explains why).
 */
import type { ModelSpec } from '../model/model-spec.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { combineCoordinateWise } from './coordinate-wise.ts';
import { StoringCombine } from './storing-combine.ts';
import { weightedTrimmedMean } from './weighted-order-statistics.ts';

export class CoordinateTrimmedMeanCombine extends StoringCombine {

  constructor(spec: ModelSpec, private readonly rowNormalize: boolean, maxUpdates: number, private readonly trim: number) {
    super(spec, maxUpdates);
  }

  protected override combine(): NamedTensors {
    return combineCoordinateWise(this.stored, this.rowNormalize, (v, w, n) => weightedTrimmedMean(v, w, n, this.trim));
  }
}
