import * as tf from '@tensorflow/tfjs';
import type { SeededRandom } from '../random/seeded-random.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { ModelSpec } from './model-spec.ts';
import type { RecommenderModel, TrainConfig } from './recommender-model.ts';

export interface EmbeddingModelConfig {
  readonly numItems: number;
  readonly dim: number;
}

/** A batch of positives, each with `negatives` sampled negative items. */
export interface PairBatch {
  readonly positives: Int32Array;
  /** positives.length × negatives, row-major */
  readonly negatives: Int32Array;
}

export function embeddingModelSpec(cfg: EmbeddingModelConfig): ModelSpec {
  return {
    kind: 'mf',
    params: [
      { name: 'itemEmbedding', shape: [cfg.numItems, cfg.dim], scope: 'global', rowSparse: true, init: { kind: 'normal', std: 0.1 } },
      { name: 'itemBias', shape: [cfg.numItems], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
      { name: 'userEmbedding', shape: [cfg.dim], scope: 'local', init: { kind: 'normal', std: 0.1 } },
    ],
  };
}

/** Negatives drawn uniformly from items the person has not touched (rejection sampling). */
export function sampleNegativeItems(count: number, numItems: number, seen: Set<number>, rng: SeededRandom): Int32Array {
  const out = new Int32Array(count);
  const canReject = seen.size < numItems;
  for (let i = 0; i < count; i++) {
    let item = rng.int(numItems);
    for (let tries = 0; canReject && seen.has(item) && tries < 100; tries++) item = rng.int(numItems);
    out[i] = item;
  }
  return out;
}

/**
 * Matrix factorisation in the FCF style (Ammad-ud-din et al., 2019): item embeddings and
 * item biases are GLOBAL and federated; the user's embedding is LOCAL and never leaves
 * the device. Implicit feedback: score(u, i) = u·v_i + b_i, trained with sigmoid
 * cross-entropy against sampled negatives.
 */
export function createEmbeddingModel(cfg: EmbeddingModelConfig): RecommenderModel<PairBatch> {
  const spec = embeddingModelSpec(cfg);
  return {
    spec,
    numItems: cfg.numItems,

    makeBatches(history, tc, numItems, rng) {
      const seen = new Set<number>(history);
      const order = rng.shuffle(Array.from(history));
      const batches: PairBatch[] = [];
      for (let start = 0; start < order.length; start += tc.batchSize) {
        const positives = Int32Array.from(order.slice(start, start + tc.batchSize));
        batches.push({ positives, negatives: sampleNegativeItems(positives.length * tc.negatives, numItems, seen, rng) });
      }
      return batches;
    },

    batchExamples: (b) => b.positives.length,

    loss(vars, batch, tc: TrainConfig) {
      return tf.tidy(() => {
        const items = vars.itemEmbedding;
        const bias = vars.itemBias;
        const user = vars.userEmbedding.reshape([cfg.dim, 1]);
        const pos = tf.tensor1d(batch.positives, 'int32');
        const neg = tf.tensor1d(batch.negatives, 'int32');
        const posVec = tf.gather(items, pos);
        const negVec = tf.gather(items, neg);
        const posScore = tf.add(tf.matMul(posVec, user).reshape([-1]), tf.gather(bias, pos));
        const negScore = tf.add(tf.matMul(negVec, user).reshape([-1]), tf.gather(bias, neg));
        // −log σ(s⁺) − Σ log(1 − σ(s⁻)) = softplus(−s⁺) + Σ softplus(s⁻), per positive.
        const n = batch.positives.length;
        const data = tf.add(tf.sum(tf.softplus(tf.neg(posScore))), tf.sum(tf.softplus(negScore))).div(n);
        const reg = tf.add(tf.sum(tf.square(posVec)), tf.sum(tf.square(negVec))).div(n).add(tf.sum(tf.square(user)));
        return tf.add(data, tf.mul(tc.l2, reg)) as tf.Scalar;
      });
    },

    scoreAll(globals, locals) {
      const items = globals.itemEmbedding;
      const bias = globals.itemBias;
      const user = locals.userEmbedding;
      const out = new Float32Array(cfg.numItems);
      for (let i = 0; i < cfg.numItems; i++) {
        let s = bias[i];
        const row = i * cfg.dim;
        for (let d = 0; d < cfg.dim; d++) s += items[row + d] * user[d];
        out[i] = s;
      }
      return out;
    },
  };
}
