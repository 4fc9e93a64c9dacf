import type { UserSplit } from '../../shared/data/interactions.ts';
import { evaluateRanking, type RankingReport } from '../../shared/eval/evaluate-ranking.ts';
import type { RecommenderModel } from '../../shared/model/recommender-model.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';

/**
 * HR@10 / NDCG@10 of an MF model on every user's held-out test item, with 100 sampled
 * negatives (seeded per user with `seed`, so fixed for a whole run) and full ranking.
 * `userEmbeddings` holds numUsers × dim LOCAL user vectors.
 */
export function evaluateMf(
  model: RecommenderModel,
  globals: NamedTensors,
  userEmbeddings: Float32Array,
  dim: number,
  split: UserSplit,
  seed: number,
): RankingReport {
  const users = [...Array(split.train.length).keys()];
  return evaluateRanking({
    numItems: model.numItems,
    users,
    heldOut: split.test,
    train: split.train,
    scoreAll: (u) => model.scoreAll(globals, { userEmbedding: userEmbeddings.subarray(u * dim, u * dim + dim) }, split.train[u]),
    seed,
  });
}
