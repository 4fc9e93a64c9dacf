import type { UserSplit } from '../../shared/data/interactions.ts';
import { evaluateSplit, type SplitReport } from '../../shared/eval/evaluate-split.ts';
import type { RecommenderModel } from '../../shared/model/recommender-model.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';

/**
 * HR@10 / NDCG@10 of an MF model on every user's test item (candidates exclude
 * `histories`, default train + validation item) and validation item (candidates
 * exclude train), with 100 sampled negatives (seeded per user with `seed`, so fixed for
 * a whole run) and full ranking. `userEmbeddings` holds numUsers × dim LOCAL user
 * vectors, trained on train only: MF cannot read the validation item.
 */
export function evaluateMf(
  model: RecommenderModel,
  globals: NamedTensors,
  userEmbeddings: Float32Array,
  dim: number,
  split: UserSplit,
  seed: number,
  histories?: readonly Int32Array[],
): SplitReport {
  return evaluateSplit({
    numItems: model.numItems,
    split,
    seed,
    histories,
    scoreAll: (u, history) => model.scoreAll(globals, { userEmbedding: userEmbeddings.subarray(u * dim, u * dim + dim) }, history),
  });
}
