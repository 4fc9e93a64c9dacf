import * as tf from '@tensorflow/tfjs';
import { exclusionMask, topKByDot, topKOfScores } from '../../shared/eval/top-k.ts';
import { initParams } from '../../shared/model/init-params.ts';
import { createModel, type ModelDescriptor } from '../../shared/model/model-registry.ts';
import { encodeSequence, tfjsEncoderOps, type SequenceModelConfig } from '../../shared/model/sasrec-model.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';

/**
 * Real-time inference latency: the top-K of one person over a whole catalog, as the web
 * app computes it, timed query by query (npm run bench:browser, e2e/bench/browser-bench.ts).
 *
 * - 'js': exactly what the app's scoring worker runs, on typed arrays: MF, the shared
 *   top-K (shared/eval/top-k.ts: bias + dot products, exclusions, k best); SASRec, the
 *   model's own scoreAll (typed-array forward pass, last hidden state against the item
 *   embeddings) and the shared top-K of those scores.
 * - 'tfjs': the same on the page's TensorFlow.js backend (wasm, webgpu …): scores as one
 *   matMul (+ bias), excluded items pushed to −∞, tf.topk, read back with async data();
 *   for SASRec the forward pass on the backend too. Item tables are uploaded once, as
 *   the worker receives a table once per model version: that upload is not timed.
 *
 * Weights are random (initParams with a seed): latency does not depend on their values.
 * One timed query = one new query vector (MF: a new user vector; SASRec: a new history
 * window) scored against the whole catalog, excluding the person's history.
 */
export interface TopKLatencyInput {
  readonly model: 'mf' | 'sasrec';
  readonly numItems: number;
  readonly path: 'js' | 'tfjs';
  readonly k: number;
  /** Timed queries (after `warmup` untimed ones). */
  readonly queries: number;
  readonly warmup: number;
  readonly historyLength: number;
  readonly seed: number;
}

export interface TopKLatencyResult {
  readonly msPerQuery: number[];
  readonly backend: string;
  /** The first timed query's top-K, to compare the two paths. */
  readonly firstTopK: number[];
}

/** The web app's model shapes (flock serve defaults: dim 16; SASRec maxLen 50, 2 blocks, 1 head). */
export function latencyDescriptor(model: 'mf' | 'sasrec', numItems: number): ModelDescriptor {
  return model === 'mf' ? { kind: 'mf', numItems, dim: 16 } : { kind: 'sasrec', numItems, dim: 16, maxLen: 50, blocks: 2, heads: 1, dropout: 0.2 };
}

/** Query i's history (distinct items) and, for MF, its user vector: the same for both paths. */
function query(input: TopKLatencyInput, i: number, dim: number): { history: Int32Array; user: Float32Array } {
  const rng = new SeededRandom(input.seed * 1_000_003 + i);
  const seen = new Set<number>();
  while (seen.size < Math.min(input.historyLength, input.numItems - input.k)) seen.add(rng.int(input.numItems));
  return { history: Int32Array.from(seen), user: Float32Array.from({ length: dim }, () => rng.normal() * 0.3) };
}

function lastWindow(cfg: SequenceModelConfig, history: Int32Array): { rows: 1; inputs: Int32Array; mask: Float32Array } {
  // The last maxLen items, right-aligned (as the model's scoreAll reads them).
  const inputs = new Int32Array(cfg.maxLen);
  const mask = new Float32Array(cfg.maxLen);
  const take = history.subarray(Math.max(0, history.length - cfg.maxLen));
  inputs.set(take, cfg.maxLen - take.length);
  mask.fill(1, cfg.maxLen - take.length);
  return { rows: 1, inputs, mask };
}

type Scorer = (history: Int32Array, user: Float32Array) => Promise<number[]>;

function jsScorer(d: ModelDescriptor, globals: NamedTensors, k: number): Scorer {
  if (d.kind === 'mf') {
    const table = { vectors: globals.itemEmbedding, dim: d.dim, bias: globals.itemBias };
    return async (history, user) => topKByDot(table, user, k, exclusionMask(d.numItems, history));
  }
  // The model's own scoreAll (its encoder's last hidden state against the item embeddings), as the worker runs it.
  const model = createModel(d);
  return async (history) => topKOfScores(model.scoreAll(globals, {}, history), k, exclusionMask(d.numItems, history));
}

function tfjsScorer(d: ModelDescriptor, globals: NamedTensors, k: number): { score: Scorer; dispose: () => void } {
  const params: Record<string, tf.Tensor> = {};
  const spec = createModel(d).spec;
  for (const p of spec.params) if (p.scope === 'global') params[p.name] = tf.tensor(globals[p.name], [...p.shape], 'float32');
  const minusInf = -3.4e38;
  const finish = async (scores: tf.Tensor1D, history: Int32Array): Promise<number[]> => {
    const top = tf.tidy(() => {
      const mask = tf.scatterND(tf.tensor2d(history, [history.length, 1], 'int32'), tf.fill([history.length], minusInf), [d.numItems]);
      return tf.topk(tf.add(scores, mask), k);
    });
    scores.dispose();
    const idx = await top.indices.data();
    top.values.dispose();
    top.indices.dispose();
    return Array.from(idx);
  };
  const score: Scorer =
    d.kind === 'mf'
      ? (history, user) => finish(tf.tidy(() => tf.add(tf.reshape(tf.matMul(params.itemEmbedding as tf.Tensor2D, tf.tensor2d(user, [d.dim, 1])), [d.numItems]), params.itemBias) as tf.Tensor1D), history)
      : (history) =>
          finish(
            tf.tidy(() => {
              const hAll = encodeSequence(d, tfjsEncoderOps(d, params, lastWindow(d, history), null)) as tf.Tensor2D;
              const h = tf.slice(hAll, [d.maxLen - 1, 0], [1, d.dim]);
              return tf.reshape(tf.matMul(h, params.itemEmbedding as tf.Tensor2D, false, true), [d.numItems]) as tf.Tensor1D;
            }),
            history,
          );
  return { score, dispose: () => Object.values(params).forEach((t) => t.dispose()) };
}

export async function measureTopKLatency(input: TopKLatencyInput): Promise<TopKLatencyResult> {
  const d = latencyDescriptor(input.model, input.numItems);
  const globals = initParams(createModel(d).spec, 'global', input.seed);
  const tfjs = input.path === 'tfjs' ? tfjsScorer(d, globals, input.k) : null;
  const score = tfjs ? tfjs.score : jsScorer(d, globals, input.k);
  const msPerQuery: number[] = [];
  let firstTopK: number[] = [];
  try {
    for (let i = 0; i < input.warmup + input.queries; i++) {
      const { history, user } = query(input, i, d.dim);
      const t0 = performance.now();
      const top = await score(history, user);
      const ms = performance.now() - t0;
      if (i === input.warmup) firstTopK = top;
      if (i >= input.warmup) msPerQuery.push(ms);
    }
  } finally {
    tfjs?.dispose();
  }
  return { msPerQuery, backend: input.path === 'tfjs' ? tf.getBackend() : 'js', firstTopK };
}
