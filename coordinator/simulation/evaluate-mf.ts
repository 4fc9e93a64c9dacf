import { evaluateSplit, type EvaluationSetup, type SplitReport } from '../../shared/eval/evaluate-split.ts';
import type { PairBatch } from '../../shared/model/embedding-model.ts';
import type { RecommenderModel } from '../../shared/model/recommender-model.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { foldInMfUser, foldInSeed } from '../../shared/train/fold-in.ts';

/**
 * HR@10 / NDCG@10 of an MF model on every user's validation and test item (the setup's
 * fixed candidates and exclusion rule, shared/eval/evaluate-split.ts). `userEmbeddings`
 * holds numUsers × dim LOCAL user vectors, trained on train only.
 *
 * - validation item: scored with the user vector as trained (it has read train).
 * - test item with testHistory 'train+validation': the validation item is folded into a
 *   copy of the user vector first — the participant's fold-in (shared/train/fold-in.ts:
 *   the browser fits the person's vector to their whole history before recommending) on
 *   train ++ [validation item], seeded foldInSeed(userSeed(u), history length) as the
 *   participant seeds it — so MF reads the same information as a sequence model. The
 *   stored vectors are never changed. With 'train' it scores with the vector as trained.
 */
export function evaluateMf(
  model: RecommenderModel,
  globals: NamedTensors,
  userEmbeddings: Float32Array,
  dim: number,
  setup: EvaluationSetup,
  /** The participant seed of user u (the simulations: hashString(fleetClientId(seed, u))). */
  userSeed: (user: number) => number,
): SplitReport {
  const foldValidation = setup.testHistory === 'train+validation';
  const tables = globals as { itemEmbedding: Float32Array; itemBias: Float32Array };
  return evaluateSplit({
    setup,
    scoreAll: (u, history, heldOut) => {
      let user = userEmbeddings.subarray(u * dim, u * dim + dim);
      if (heldOut === 'test' && foldValidation && setup.split.validation[u] >= 0) {
        user = foldInMfUser(model as RecommenderModel<PairBatch>, dim, tables, user, history, foldInSeed(userSeed(u) >>> 0, history.length));
      }
      return model.scoreAll(globals, { userEmbedding: user }, history);
    },
  });
}
