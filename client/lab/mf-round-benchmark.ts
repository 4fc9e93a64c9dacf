import * as tf from '@tensorflow/tfjs';
import { initParams } from '../../shared/model/init-params.ts';
import { itemFeatureTable } from '../../shared/model/item-feature-tower.ts';
import { createModel, type MfModelDescriptor } from '../../shared/model/model-registry.ts';
import type { TrainConfig } from '../../shared/model/recommender-model.ts';
import { deriveSeed, SeededRandom } from '../../shared/random/seeded-random.ts';
import { trainLocally } from '../../shared/train/local-training.ts';
import { MfKernelTrainer, type LocalTrainer } from '../../shared/train/mf-kernel-local-training.ts';

/**
 * One MF client's local training per round, as the participant runs it (npm run
 * bench:browser, e2e/bench/browser-bench.ts): TensorFlow.js `trainLocally` on the page's
 * backend against the typed-array kernels (MfKernelTrainer, what a wasm or cpu page
 * trains MF with), with and without the item-feature tower. One timed round = one
 * trainLocally / MfKernelTrainer.train call on a fresh seed (new batches and negatives),
 * from the same globals and user vector; the Δ, clipping and encoding that follow
 * (buildUpdate) are the same for both and not timed.
 *
 * Data: random weights (initParams) and a seeded random history of distinct items; with
 * the tower, each item carries one to three of 19 genre features and one of 8 decades
 * (ML-100K-like), hashed into 512 buckets.
 */
export interface MfRoundBenchmarkInput {
  /** 'kernels': MfKernelTrainer as a page loads it (wasm SIMD where it can); 'kernels-js': the JS kernels only. */
  readonly trainer: 'tfjs' | 'kernels' | 'kernels-js';
  readonly tower: boolean;
  readonly numItems: number;
  readonly dim: number;
  readonly historyLength: number;
  readonly config: TrainConfig;
  /** Timed rounds, after one untimed warm-up round. */
  readonly rounds: number;
  readonly seed: number;
}

export interface MfRoundBenchmarkResult {
  readonly msPerRound: number;
  readonly rounds: number;
  /** What trained: 'tfjs' or the kernel MfKernelTrainer chose. */
  readonly trainer: LocalTrainer;
  /** The tfjs backend of the page. */
  readonly backend: string;
  /** The untimed first round (with kernels: after the one-off asynchronous wasm load). */
  readonly warmupMs: number;
  readonly steps: number;
}

let kernels: Promise<MfKernelTrainer> | null = null;
const jsKernels = MfKernelTrainer.jsOnly('benchmark: the JS kernels only');

/** ML-100K-like features: 1–3 of 19 genres and a decade per item. */
function features(numItems: number, rng: SeededRandom): string[][] {
  return Array.from({ length: numItems }, () => {
    const genres = new Set(Array.from({ length: 1 + rng.int(3) }, () => `genre:${rng.int(19)}`));
    return [...genres, `decade:${1920 + 10 * rng.int(8)}`];
  });
}

export async function benchmarkMfRound(input: MfRoundBenchmarkInput): Promise<MfRoundBenchmarkResult> {
  const rng = new SeededRandom(input.seed);
  const d: MfModelDescriptor = {
    kind: 'mf',
    numItems: input.numItems,
    dim: input.dim,
    ...(input.tower ? { itemFeatures: itemFeatureTable(features(input.numItems, rng), 512) } : {}),
  };
  const model = createModel(d);
  const globals = initParams(model.spec, 'global', deriveSeed(input.seed, 1));
  const locals = initParams(model.spec, 'local', deriveSeed(input.seed, 2));
  const history = Int32Array.from(rng.shuffle(Array.from({ length: input.numItems }, (_, i) => i)).slice(0, input.historyLength));
  let trainer: LocalTrainer = 'tfjs';
  const round = async (r: number): Promise<number> => {
    const seed = deriveSeed(input.seed, 3, r);
    if (input.trainer === 'tfjs') return (await trainLocally(model, globals, locals, history, input.config, seed)).steps;
    const k = input.trainer === 'kernels-js' ? jsKernels : await (kernels ??= MfKernelTrainer.load());
    const out = k.train(d, model, globals, locals, history, input.config, seed);
    trainer = out.trainer;
    return out.steps;
  };
  await tf.ready();
  let t0 = performance.now();
  const steps = await round(0);
  const warmupMs = performance.now() - t0;
  const rounds = Math.max(1, Math.floor(input.rounds));
  t0 = performance.now();
  for (let r = 1; r <= rounds; r++) await round(r);
  const ms = performance.now() - t0;
  return { msPerRound: ms / rounds, rounds, trainer, backend: tf.getBackend(), warmupMs, steps };
}
