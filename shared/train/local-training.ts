import * as tf from '@tensorflow/tfjs';
import type { RecommenderModel, TrainConfig } from '../model/recommender-model.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { cloneTensors, type NamedTensors } from '../tensor/named-tensors.ts';

export interface LocalTrainingResult {
  readonly globals: NamedTensors;
  readonly locals: NamedTensors;
  /** Mean batch loss over the last epoch. */
  readonly loss: number;
  /** Positives seen in one epoch (the FedAvg weight). */
  readonly numExamples: number;
  readonly steps: number;
}

export interface TrainingOptions {
  /** 'local' trains only LOCAL parameters (fold-in of a person's own embedding). */
  readonly trainable?: 'all' | 'local';
  /** Called after each epoch (progress for a UI or CLI). */
  readonly onEpoch?: (epoch: number, epochs: number) => void;
}

/**
 * Runs plain SGD over explicit batches (one array of batches per epoch) on whatever
 * TensorFlow.js backend is active. SGD, not Adam, so clients on different backends
 * compute the same update (Adam's default epsilon differs between backends).
 * Every tensor it creates is disposed before it returns.
 */
export async function trainOnBatches<B>(
  model: RecommenderModel<B>,
  globals: NamedTensors,
  locals: NamedTensors,
  epochs: readonly (readonly B[])[],
  cfg: TrainConfig,
  opts: TrainingOptions = {},
): Promise<LocalTrainingResult> {
  if (opts.trainable === 'local' && !model.spec.params.some((p) => p.scope === 'local')) {
    // Nothing to train (e.g. fold-in for a model whose parameters are all GLOBAL, like SASRec).
    const last = epochs[epochs.length - 1] ?? [];
    return { globals: cloneTensors(globals), locals: cloneTensors(locals), loss: 0, numExamples: last.reduce((n, b) => n + model.batchExamples(b), 0), steps: 0 };
  }
  const vars: Record<string, tf.Variable> = {};
  for (const p of model.spec.params) {
    const source = p.scope === 'global' ? globals : locals;
    const values = source[p.name];
    if (!values) throw new Error(`missing ${p.scope} parameter ${p.name}`);
    const initial = tf.tensor(values, [...p.shape], 'float32');
    vars[p.name] = tf.variable(initial, true);
    initial.dispose();
  }
  const trainable = model.spec.params
    .filter((p) => opts.trainable !== 'local' || p.scope === 'local')
    .map((p) => vars[p.name]);
  const optimizer = tf.train.sgd(cfg.learningRate);
  const accumulate = Math.max(1, Math.floor(cfg.accumulationSteps ?? 1));
  let steps = 0;
  let lastEpochLoss = 0;
  let numExamples = 0;
  try {
    for (let e = 0; e < epochs.length; e++) {
      const losses: tf.Scalar[] = [];
      let examples = 0;
      const batches = epochs[e];
      for (let i = 0; i < batches.length; i += accumulate) {
        const group = batches.slice(i, i + accumulate);
        if (group.length === 1) {
          const cost = optimizer.minimize(() => model.loss(vars, group[0], cfg), true, trainable);
          if (cost) losses.push(cost);
        } else {
          losses.push(...accumulatedStep(model, vars, group, cfg, trainable, optimizer));
        }
        for (const b of group) examples += model.batchExamples(b);
        steps++;
      }
      if (losses.length > 0) {
        const total = tf.addN(losses);
        lastEpochLoss = (await total.data())[0] / losses.length;
        total.dispose();
      }
      tf.dispose(losses);
      numExamples = examples;
      opts.onEpoch?.(e + 1, epochs.length);
    }
    const out: { globals: NamedTensors; locals: NamedTensors } = { globals: {}, locals: {} };
    for (const p of model.spec.params) {
      const data = (await vars[p.name].data()) as Float32Array;
      (p.scope === 'global' ? out.globals : out.locals)[p.name] = Float32Array.from(data);
    }
    return { ...out, loss: lastEpochLoss, numExamples, steps };
  } finally {
    optimizer.dispose();
    tf.dispose(Object.values(vars));
  }
}

/**
 * Gradient accumulation: one SGD step on the mean gradient of several micro-batches,
 * so a small GPU can train long sequences with the memory of one micro-batch. With
 * equal-sized micro-batches this equals one step on their union. Returns the losses.
 */
function accumulatedStep<B>(
  model: RecommenderModel<B>,
  vars: Readonly<Record<string, tf.Variable>>,
  group: readonly B[],
  cfg: TrainConfig,
  trainable: tf.Variable[],
  optimizer: tf.Optimizer,
): tf.Scalar[] {
  const losses: tf.Scalar[] = [];
  let sum: tf.NamedTensorMap | null = null;
  for (const batch of group) {
    const { value, grads } = tf.variableGrads(() => model.loss(vars, batch, cfg), trainable);
    losses.push(value);
    if (sum === null) sum = grads;
    else {
      const acc: tf.NamedTensorMap = sum;
      for (const name of Object.keys(grads)) {
        const next = tf.add(acc[name], grads[name]);
        tf.dispose([acc[name], grads[name]]);
        acc[name] = next;
      }
    }
  }
  const mean: tf.NamedTensorMap = {};
  for (const [name, g] of Object.entries(sum!)) mean[name] = tf.div(g, group.length);
  optimizer.applyGradients(mean);
  tf.dispose([...Object.values(sum!), ...Object.values(mean)]);
  return losses;
}

/** Local training on a person's history: seeded batches for each epoch, then trainOnBatches. */
export async function trainLocally<B>(
  model: RecommenderModel<B>,
  globals: NamedTensors,
  locals: NamedTensors,
  history: Int32Array,
  cfg: TrainConfig,
  seed: number,
  opts: TrainingOptions = {},
): Promise<LocalTrainingResult> {
  const rng = new SeededRandom(seed);
  const epochs: B[][] = [];
  for (let e = 0; e < cfg.localEpochs; e++) epochs.push(model.makeBatches(history, cfg, model.numItems, rng));
  return trainOnBatches(model, globals, locals, epochs, cfg, opts);
}
