import * as tf from '@tensorflow/tfjs';
import type { SeededRandom } from '../random/seeded-random.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { addTower, checkItemFeatureTable, paddedBatchFeatures, type ItemFeatureTable } from './item-feature-tower.ts';
import type { ModelSpec } from './model-spec.ts';
import type { RecommenderModel, TrainConfig } from './recommender-model.ts';

export interface EmbeddingModelConfig {
  readonly numItems: number;
  readonly dim: number;
  /**
   * Item features for the feature tower (item-feature-tower.ts): the GLOBAL parameters
   * gain `featureEmbedding` [buckets, dim] and `featureBias` [buckets]. Absent: no tower.
   */
  readonly itemFeatures?: ItemFeatureTable;
  /** Retired item ids: never sampled as negatives, never recommended (catalog.ts). */
  readonly retiredItems?: number[];
}

/** A batch of positives, each with `negatives` sampled negative items. */
export interface PairBatch {
  readonly positives: Int32Array;
  /** positives.length × negatives, row-major */
  readonly negatives: Int32Array;
}

export function embeddingModelSpec(cfg: EmbeddingModelConfig): ModelSpec {
  const tower = cfg.itemFeatures;
  return {
    kind: 'mf',
    params: [
      { name: 'itemEmbedding', shape: [cfg.numItems, cfg.dim], scope: 'global', rowSparse: true, init: { kind: 'normal', std: 0.1 } },
      { name: 'itemBias', shape: [cfg.numItems], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
      // The feature tower is dense: every item's features may share a bucket.
      ...(tower
        ? ([
            { name: 'featureEmbedding', shape: [tower.buckets, cfg.dim], scope: 'global', init: { kind: 'zeros' } },
            { name: 'featureBias', shape: [tower.buckets], scope: 'global', init: { kind: 'zeros' } },
          ] as const)
        : []),
      { name: 'userEmbedding', shape: [cfg.dim], scope: 'local', init: { kind: 'normal', std: 0.1 } },
    ],
  };
}

/**
 * The item vectors and biases the MF model scores with: the free tables, plus the
 * feature tower's part when the model has one (fresh arrays either way).
 */
export function mfItemTables(cfg: EmbeddingModelConfig, globals: NamedTensors): { vectors: Float32Array; bias: Float32Array } {
  const vectors = Float32Array.from(globals.itemEmbedding);
  const bias = Float32Array.from(globals.itemBias);
  if (cfg.itemFeatures) addTower(cfg.itemFeatures, globals.featureEmbedding, globals.featureBias, cfg.dim, vectors, bias);
  return { vectors, bias };
}

/** The items a person's training must not use as negatives: what they touched and the retired ones. */
export function excludedFromNegatives(history: Int32Array, retired: readonly number[] | undefined): Set<number> {
  const out = new Set<number>(history);
  for (const r of retired ?? []) out.add(r);
  return out;
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
  const tower = cfg.itemFeatures;
  if (tower) checkItemFeatureTable(tower, cfg.numItems);
  // Item vectors (free row + tower) and biases of a batch of item ids, as tensors.
  const itemRows = (vars: Readonly<Record<string, tf.Variable>>, ids: Int32Array): { vec: tf.Tensor2D; bias: tf.Tensor1D } => {
    const idx = tf.tensor1d(ids, 'int32');
    const free = tf.gather(vars.itemEmbedding, idx) as tf.Tensor2D;
    const freeBias = tf.gather(vars.itemBias, idx) as tf.Tensor1D;
    if (!tower) return { vec: free, bias: freeBias };
    const f = paddedBatchFeatures(tower, ids);
    const fIdx = tf.tensor1d(f.ids, 'int32');
    const w = tf.tensor2d(f.weights, [ids.length, f.width]);
    const towerVec = tf.sum(tf.mul(tf.gather(vars.featureEmbedding, fIdx).reshape([ids.length, f.width, cfg.dim]), w.expandDims(2)), 1);
    const towerBias = tf.sum(tf.mul(tf.gather(vars.featureBias, fIdx).reshape([ids.length, f.width]), w), 1);
    return { vec: tf.add(free, towerVec) as tf.Tensor2D, bias: tf.add(freeBias, towerBias) as tf.Tensor1D };
  };
  return {
    spec,
    numItems: cfg.numItems,

    makeBatches(history, tc, numItems, rng) {
      const seen = excludedFromNegatives(history, cfg.retiredItems);
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
        const user = vars.userEmbedding.reshape([cfg.dim, 1]);
        const { vec: posVec, bias: posBias } = itemRows(vars, batch.positives);
        const { vec: negVec, bias: negBias } = itemRows(vars, batch.negatives);
        const posScore = tf.add(tf.matMul(posVec, user).reshape([-1]), posBias);
        const negScore = tf.add(tf.matMul(negVec, user).reshape([-1]), negBias);
        // −log σ(s⁺) − Σ log(1 − σ(s⁻)) = softplus(−s⁺) + Σ softplus(s⁻), per positive.
        const n = batch.positives.length;
        const data = tf.add(tf.sum(tf.softplus(tf.neg(posScore))), tf.sum(tf.softplus(negScore))).div(n);
        const reg = tf.add(tf.sum(tf.square(posVec)), tf.sum(tf.square(negVec))).div(n).add(tf.sum(tf.square(user)));
        return tf.add(data, tf.mul(tc.l2, reg)) as tf.Scalar;
      });
    },

    scoreAll(globals, locals) {
      const { vectors: items, bias } = mfItemTables(cfg, globals);
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
