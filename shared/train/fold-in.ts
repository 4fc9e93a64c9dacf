/**
 * Fold-in: before recommending, a participant fits its own LOCAL parameters (MF: the
 * person's user vector) to everything the person has clicked, with the GLOBAL weights
 * frozen — new clicks count at once, without waiting for a round. This is
 * `trainLocally(..., FOLD_IN, foldInSeed(...), { trainable: 'local' })`, what
 * Participant.recommend runs (shared/participant/participant.ts).
 *
 * foldInMfUser is the same fold-in for the MF model on plain Float32Arrays (the research
 * runs fold a validation item into every user's vector at every evaluation; a
 * TensorFlow.js step per batch would make that slow): the same batches (model.makeBatches
 * with SeededRandom(seed), one call per epoch, as trainLocally), the same loss, and one
 * plain SGD step per batch on the user vector only. Parity with the tfjs path
 * (trainLocally with trainable 'local') is a unit test (fold-in.test.ts).
 */
import type { PairBatch } from '../model/embedding-model.ts';
import type { RecommenderModel, TrainConfig } from '../model/recommender-model.ts';
import { deriveSeed, SeededRandom } from '../random/seeded-random.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { trainLocally, type LocalTrainingResult } from './local-training.ts';

/** The participant's fold-in: 5 epochs of SGD (lr 0.1, batches of 64, 4 negatives, L2 1e-4) on the LOCAL parameters. */
export const FOLD_IN: TrainConfig = { localEpochs: 5, batchSize: 64, learningRate: 0.1, negatives: 4, l2: 1e-4 };

/** The fold-in's seed for a participant seed and the length of the history it reads. */
export const foldInSeed = (participantSeed: number, historyLength: number): number => deriveSeed(participantSeed, historyLength);

/** The fold-in on TensorFlow.js (any model; a model without LOCAL parameters comes back unchanged). */
export function foldIn<B>(
  model: RecommenderModel<B>,
  globals: NamedTensors,
  locals: NamedTensors,
  history: Int32Array,
  seed: number,
  cfg: TrainConfig = FOLD_IN,
): Promise<LocalTrainingResult> {
  return trainLocally(model, globals, locals, history, cfg, seed, { trainable: 'local' });
}

/**
 * The MF fold-in on typed arrays: returns the fitted user vector (a new array); the
 * global tables and `userEmbedding` are not changed. An empty history returns a copy.
 *
 * The loss is embedding-model.ts's (the one mf-typed-array-training.ts differentiates by
 * hand); with the item tables frozen only its user-vector gradient is needed:
 *   ∂L/∂u = Σ_p (σ(s_p) − 1)/n · v_p + Σ_q σ(s_q)/n · v_q + 2·l2·u,   s_i = u·v_i + b_i
 * summed over a group of `accumulationSteps` micro-batches and divided by the group size,
 * one plain SGD step per group (as trainOnBatches).
 */
export function foldInMfUser(
  model: RecommenderModel<PairBatch>,
  dim: number,
  globals: { readonly itemEmbedding: Float32Array; readonly itemBias: Float32Array },
  userEmbedding: Float32Array,
  history: Int32Array,
  seed: number,
  cfg: TrainConfig = FOLD_IN,
): Float32Array {
  const user = Float32Array.from(userEmbedding);
  if (history.length === 0) return user;
  const rng = new SeededRandom(seed);
  const epochs: PairBatch[][] = [];
  for (let e = 0; e < cfg.localEpochs; e++) epochs.push(model.makeBatches(history, cfg, model.numItems, rng));
  const items = globals.itemEmbedding;
  const bias = globals.itemBias;
  const grad = new Float64Array(dim);
  const accumulate = Math.max(1, Math.floor(cfg.accumulationSteps ?? 1));
  const twoL2 = 2 * cfg.l2;
  // Adds ∂/∂u of one row's data term (label 1 for a positive, 0 for a negative) into grad.
  const addRow = (i: number, label: number, n: number) => {
    const row = i * dim;
    let s = bias[i];
    for (let d = 0; d < dim; d++) s += items[row + d] * user[d];
    const gs = (1 / (1 + Math.exp(-Math.fround(s))) - label) / n;
    for (let d = 0; d < dim; d++) grad[d] += gs * items[row + d];
  };
  for (const batches of epochs) {
    for (let g = 0; g < batches.length; g += accumulate) {
      const end = Math.min(batches.length, g + accumulate);
      grad.fill(0);
      for (let j = g; j < end; j++) {
        const { positives, negatives } = batches[j];
        const n = positives.length;
        for (let d = 0; d < dim; d++) grad[d] += twoL2 * user[d];
        for (let k = 0; k < n; k++) addRow(positives[k], 1, n);
        for (let k = 0; k < negatives.length; k++) addRow(negatives[k], 0, n);
      }
      const step = cfg.learningRate / (end - g);
      for (let d = 0; d < dim; d++) user[d] -= step * grad[d];
    }
  }
  return user;
}
