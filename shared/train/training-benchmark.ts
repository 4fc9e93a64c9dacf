/**
 * The one definition of the local-training benchmark, run unchanged in the browser (lab
 * page, `window.flockLab.benchmark`) and in Node (e2e/bench/browser-bench.ts), so the
 * numbers of every backend come from the very same code: shared/train's
 * trainOnBatches on batches from the model's own makeBatches.
 *
 * Only TensorFlow.js and shared/ are imported (no DOM, no Node APIs). Reads are async
 * (`data()`), never `dataSync()`: a synchronous read on Chromium's webgpu backend breaks
 * later async reads.
 */
import * as tf from '@tensorflow/tfjs';
import { initParams } from '../model/init-params.ts';
import { createModel, type ModelDescriptor } from '../model/model-registry.ts';
import type { TrainConfig } from '../model/recommender-model.ts';
import { SeededRandom, deriveSeed } from '../random/seeded-random.ts';
import { trainOnBatches } from './local-training.ts';

/** JSON-serialisable input, so Playwright can pass it to page.evaluate. */
export interface BenchmarkInput {
  readonly model: ModelDescriptor;
  /** One person's item ids in time order; batches are cut from it by model.makeBatches. */
  readonly history: number[];
  readonly config: TrainConfig;
  /** Timed training steps (batches), after one untimed warm-up step. */
  readonly steps: number;
  /** Seed of parameter init and batch sampling (default 1). */
  readonly seed?: number;
}

export interface BenchmarkResult {
  readonly backend: string;
  readonly stepsPerSecond: number;
  readonly msPerStep: number;
  readonly steps: number;
  /** Mean training examples per timed batch (positives for MF, target positions for SASRec). */
  readonly examplesPerStep: number;
  /** The untimed warm-up call (one step: kernel compilation, variable upload, read-back). */
  readonly warmupMs: number;
  readonly loss: number;
  /** tf.memory().numTensors before and after: equal unless training leaks tensors. */
  readonly numTensorsBefore: number;
  readonly numTensorsAfter: number;
}

/**
 * Initialises parameters (initParams), runs one warm-up step, then times ONE
 * trainOnBatches call over `steps` batches (creating the variables, the SGD steps, and
 * the async read-back of every parameter, which is what waits for the GPU queue to
 * drain). Batches come from model.makeBatches over the history with successive seeds,
 * prepared before the clock starts.
 */
export async function benchmarkTraining(input: BenchmarkInput): Promise<BenchmarkResult> {
  const steps = Math.max(1, Math.floor(input.steps));
  const seed = input.seed ?? 1;
  const model = createModel(input.model);
  const history = Int32Array.from(input.history);
  const globals = initParams(model.spec, 'global', deriveSeed(seed, 1));
  const locals = initParams(model.spec, 'local', deriveSeed(seed, 2));

  const batches: unknown[] = [];
  for (let epoch = 0; batches.length < steps + 1; epoch++) {
    const made = model.makeBatches(history, input.config, model.numItems, new SeededRandom(deriveSeed(seed, 3, epoch)));
    if (made.length === 0) throw new Error('makeBatches produced no batch for this history');
    batches.push(...made);
  }
  const warmup = batches.slice(0, 1);
  const timed = batches.slice(1, steps + 1);

  await tf.ready();
  const numTensorsBefore = tf.memory().numTensors;
  let t0 = performance.now();
  await trainOnBatches(model, globals, locals, [warmup], input.config);
  const warmupMs = performance.now() - t0;

  t0 = performance.now();
  const result = await trainOnBatches(model, globals, locals, [timed], input.config);
  const ms = performance.now() - t0;
  const examples = timed.reduce<number>((n, b) => n + model.batchExamples(b), 0);
  return {
    backend: tf.getBackend(),
    stepsPerSecond: (steps * 1000) / ms,
    msPerStep: ms / steps,
    steps,
    examplesPerStep: examples / steps,
    warmupMs,
    loss: result.loss,
    numTensorsBefore,
    numTensorsAfter: tf.memory().numTensors,
  };
}
