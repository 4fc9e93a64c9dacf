import type * as tf from '@tensorflow/tfjs';
import type { SeededRandom } from '../random/seeded-random.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { ModelSpec } from './model-spec.ts';

/** Hyper-parameters of one client's local training, announced by the coordinator each round. */
export interface TrainConfig {
  readonly localEpochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** Sampled negative items per positive. */
  readonly negatives: number;
  /** L2 regularisation on the embeddings a batch touches. */
  readonly l2: number;
  /** Micro-batches whose gradients are averaged into one SGD step (default 1: none). */
  readonly accumulationSteps?: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  localEpochs: 2,
  batchSize: 32,
  learningRate: 0.5,
  negatives: 4,
  l2: 1e-4,
};

/**
 * What the generic local trainer, the update path and the coordinator need from a model.
 * A model knows its parameters (spec), how to cut a person's history into batches and
 * the loss of a batch; everything else (variables, optimiser, deltas, clipping,
 * aggregation) is written once for every model.
 */
export interface RecommenderModel<Batch = unknown> {
  readonly spec: ModelSpec;
  readonly numItems: number;
  /** Batches for one epoch over a person's history (item ids in time order). */
  makeBatches(history: Int32Array, cfg: TrainConfig, numItems: number, rng: SeededRandom): Batch[];
  /** Number of training examples in a batch (weights the update in FedAvg). */
  batchExamples(batch: Batch): number;
  /** Mean loss of a batch, as a scalar tensor built from the variables. */
  loss(vars: Readonly<Record<string, tf.Variable>>, batch: Batch, cfg: TrainConfig): tf.Scalar;
  /**
   * Scores of every item for a person (higher is better), on typed arrays, no tfjs needed
   * (synchronous: a synchronous tfjs read-back on webgpu breaks later reads in Chromium).
   */
  scoreAll(globals: NamedTensors, locals: NamedTensors, history: Int32Array): Float32Array;
}
