import * as tf from '@tensorflow/tfjs';
import { FlockError } from '../errors.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { excludedFromNegatives, sampleNegativeItems } from './embedding-model.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { ModelSpec, ParamSpec } from './model-spec.ts';
import type { RecommenderModel, TrainConfig } from './recommender-model.ts';

/**
 * SASRec (Kang and McAuley, 2018): causal self-attention over a person's own item
 * sequence, predicting the next item at every position. Every parameter is GLOBAL.
 *
 * Choices worth knowing:
 * - The item table has exactly `numItems` rows (row = item id, as in the embedding
 *   model), shared by the input and the output layer. Padding is NOT a table row: a
 *   padded position gathers row 0 and is multiplied by its mask (0), so it contributes
 *   nothing and row 0 receives an exactly zero gradient from it. Attention also masks
 *   padded keys, so padded positions never influence real ones.
 * - Windows are right-aligned (left-padded): the last real position is always
 *   `maxLen − 1`, which is the position scoreAll reads.
 * - Layout as in the reference PyTorch SASRec: input embedding × √dim + positional
 *   embedding → dropout → mask; per block: q = LN(x); x = q + Dropout(MHA(q, x, x))
 *   (causal); x = LN(x); x = x + Dropout(W₂·Dropout(relu(W₁x))); mask. Final LN.
 *   No dropout on the attention weights themselves.
 * - Dropout is seeded: each batch carries a seed and the loss draws its masks from a
 *   SeededRandom in JS, so training is deterministic and identical on every backend.
 * - The encoder is written once (encodeSequence) over a small kernel interface with two
 *   implementations: TensorFlow.js tensors for training (autodiff, any backend) and plain
 *   Float32Arrays for scoreAll, which must be synchronous: a synchronous read-back on
 *   the webgpu backend (dataSync) breaks every later async read in Chromium here.
 * - `TrainConfig.batchSize` counts windows (sequences), as SASRec's batch size does;
 *   `TrainConfig.negatives` negatives per position (SASRec uses 1), drawn from items
 *   not in the person's history. Loss per target position:
 *   softplus(−s⁺) + Σ softplus(s⁻), averaged over non-padding positions, plus
 *   `l2` × squared norm of the target/negative embeddings per position (as in the
 *   embedding model).
 */
export interface SequenceModelConfig {
  readonly numItems: number;
  readonly dim: number;
  readonly maxLen: number;
  readonly blocks: number;
  readonly heads: number;
  /** Dropout rate in [0, 1), training only. */
  readonly dropout: number;
  /** Retired item ids: never sampled as negatives, never recommended. */
  readonly retiredItems?: number[];
}

/** Training windows of one person's sequence: `rows` windows of `maxLen` positions. */
export interface SequenceBatch {
  readonly rows: number;
  /** rows × maxLen input item ids, row-major; 0 where padded (masked). */
  readonly inputs: Int32Array;
  /** rows × maxLen: 1 where the position holds a real input (and so a target), 0 where padded. */
  readonly mask: Float32Array;
  /** rows × maxLen next-item targets; 0 where padded. */
  readonly positives: Int32Array;
  /** rows × maxLen × negativesPerPosition sampled negatives; 0 where padded. */
  readonly negatives: Int32Array;
  readonly negativesPerPosition: number;
  /** Non-padding positions: the training examples of this batch. */
  readonly numTargets: number;
  /** Seed of this batch's dropout masks. */
  readonly dropoutSeed: number;
}

const LN_EPSILON = 1e-6;
const MASKED_LOGIT = -1e9;

function blockName(b: number, name: string): string {
  return `block${b}.${name}`;
}

export function validateSequenceConfig(cfg: SequenceModelConfig): void {
  const ints = ['numItems', 'dim', 'maxLen', 'blocks', 'heads'] as const;
  for (const k of ints) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new FlockError('bad-config', `sasrec ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.dim % cfg.heads !== 0) throw new FlockError('bad-config', `sasrec dim ${cfg.dim} must be divisible by heads ${cfg.heads}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new FlockError('bad-config', `sasrec dropout must be in [0, 1), got ${cfg.dropout}`);
}

export function sequenceModelSpec(cfg: SequenceModelConfig): ModelSpec {
  const d = cfg.dim;
  const std = 1 / Math.sqrt(d);
  const dense = (name: string): ParamSpec[] => [
    { name: `${name}.kernel`, shape: [d, d], scope: 'global', init: { kind: 'normal', std } },
    { name: `${name}.bias`, shape: [d], scope: 'global', init: { kind: 'zeros' } },
  ];
  const norm = (name: string): ParamSpec[] => [
    { name: `${name}.gain`, shape: [d], scope: 'global', init: { kind: 'ones' } },
    { name: `${name}.bias`, shape: [d], scope: 'global', init: { kind: 'zeros' } },
  ];
  const params: ParamSpec[] = [
    { name: 'itemEmbedding', shape: [cfg.numItems, d], scope: 'global', rowSparse: true, init: { kind: 'normal', std } },
    { name: 'positionEmbedding', shape: [cfg.maxLen, d], scope: 'global', init: { kind: 'normal', std } },
  ];
  for (let b = 0; b < cfg.blocks; b++) {
    const n = (s: string) => blockName(b, s);
    params.push(...norm(n('attnNorm')), ...dense(n('query')), ...dense(n('key')), ...dense(n('value')), ...dense(n('attnOut')));
    params.push(...norm(n('ffnNorm')), ...dense(n('ffn1')), ...dense(n('ffn2')));
  }
  params.push(...norm('finalNorm'));
  return { kind: 'sasrec', params };
}

/** Writes items[from, to) (at most maxLen of them) right-aligned into row `row` of `inputs`, marking them in `mask`. */
function fillWindow(items: ArrayLike<number>, from: number, to: number, maxLen: number, row: number, inputs: Int32Array, mask: Float32Array): void {
  const len = to - from;
  const offset = row * maxLen + (maxLen - len);
  for (let i = 0; i < len; i++) {
    inputs[offset + i] = items[from + i];
    mask[offset + i] = 1;
  }
}

/**
 * The kernels the encoder needs, over an abstract matrix type T holding `rows·maxLen`
 * positions × dim, row-major. The encoder (encodeSequence) is written once against this
 * interface; tfjsEncoderOps runs it on the active TensorFlow.js backend with autodiff
 * (training), arrayEncoderOps on plain Float32Arrays (scoring: synchronous, no GPU
 * read-back, identical on every backend).
 */
export interface EncoderOps<T> {
  param(name: string): T;
  /** Rows of `table` for the window's input ids. */
  gatherInputs(table: T): T;
  scale(x: T, s: number): T;
  /** x + the positional embedding of each position (the [maxLen, dim] table repeated per window). */
  addPositions(x: T, positions: T): T;
  add(a: T, b: T): T;
  /** Zeroes padded positions. */
  maskPadding(x: T): T;
  /** Identity when not training. */
  dropout(x: T): T;
  layerNorm(x: T, gain: T, bias: T): T;
  /** x·kernel + bias */
  dense(x: T, kernel: T, bias: T): T;
  relu(x: T): T;
  /** Multi-head scaled dot-product attention, causal, padded keys masked; heads merged. */
  attention(q: T, k: T, v: T): T;
}

/**
 * The SASRec encoder: hidden states of every position ([rows·maxLen, dim]). Position t
 * only sees positions ≤ t. The one definition of the architecture.
 */
export function encodeSequence<T>(cfg: SequenceModelConfig, ops: EncoderOps<T>): T {
  const p = (name: string) => ops.param(name);
  const emb = ops.scale(ops.gatherInputs(p('itemEmbedding')), Math.sqrt(cfg.dim));
  let x = ops.maskPadding(ops.dropout(ops.addPositions(emb, p('positionEmbedding'))));
  for (let b = 0; b < cfg.blocks; b++) {
    const n = (s: string) => p(blockName(b, s));
    const q = ops.layerNorm(x, n('attnNorm.gain'), n('attnNorm.bias'));
    const attended = ops.attention(
      ops.dense(q, n('query.kernel'), n('query.bias')),
      ops.dense(x, n('key.kernel'), n('key.bias')),
      ops.dense(x, n('value.kernel'), n('value.bias')),
    );
    x = ops.add(q, ops.dropout(ops.dense(attended, n('attnOut.kernel'), n('attnOut.bias'))));
    x = ops.layerNorm(x, n('ffnNorm.gain'), n('ffnNorm.bias'));
    const hidden = ops.dropout(ops.relu(ops.dense(x, n('ffn1.kernel'), n('ffn1.bias'))));
    x = ops.maskPadding(ops.add(x, ops.dropout(ops.dense(hidden, n('ffn2.kernel'), n('ffn2.bias')))));
  }
  return ops.layerNorm(x, p('finalNorm.gain'), p('finalNorm.bias'));
}

/** Causal mask as an additive bias [1, 1, L, L]: 0 on and below the diagonal, −1e9 above. */
function causalBias(maxLen: number): tf.Tensor4D {
  const v = new Float32Array(maxLen * maxLen);
  for (let q = 0; q < maxLen; q++) for (let k = q + 1; k < maxLen; k++) v[q * maxLen + k] = MASKED_LOGIT;
  return tf.tensor4d(v, [1, 1, maxLen, maxLen]);
}

/**
 * Encoder kernels on TensorFlow.js tensors ([rows·maxLen, dim] tf.Tensor2D), differentiable.
 * Dropout masks come from a SeededRandom in JS (0 or 1/(1−rate)), so training is
 * deterministic and identical on every backend. Call inside tf.tidy or a gradient
 * function: intermediate tensors are not disposed here.
 */
export function tfjsEncoderOps(
  cfg: SequenceModelConfig,
  params: Readonly<Record<string, tf.Tensor>>,
  window: { rows: number; inputs: Int32Array; mask: Float32Array },
  dropout: { seed: number; rate: number } | null,
): EncoderOps<tf.Tensor> {
  const { rows } = window;
  const L = cfg.maxLen;
  const H = cfg.heads;
  const dh = cfg.dim / H;
  const n = rows * L;
  const rng = dropout && dropout.rate > 0 ? new SeededRandom(dropout.seed) : null;
  const keep = 1 - (dropout?.rate ?? 0);
  const mask = tf.tensor2d(window.mask, [n, 1]);
  // Additive attention bias [rows, 1, L, L]: causal, and padded keys masked.
  const keyBias = tf.reshape(tf.mul(tf.sub(1, tf.tensor1d(window.mask)), MASKED_LOGIT), [rows, 1, 1, L]);
  const attnBias = tf.add(causalBias(L), keyBias);
  const splitHeads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [rows, L, H, dh]), [0, 2, 1, 3]); // [rows, H, L, dh]
  return {
    param: (name) => {
      const t = params[name];
      if (!t) throw new FlockError('wrong-shape', `missing sasrec parameter ${name}`);
      return t;
    },
    gatherInputs: (table) => tf.gather(table, tf.tensor1d(window.inputs, 'int32')),
    scale: (x, s) => tf.mul(x, s),
    addPositions: (x, positions) => tf.add(x, tf.tile(positions, [rows, 1])),
    add: (a, b) => tf.add(a, b),
    maskPadding: (x) => tf.mul(x, mask),
    dropout: (x) => {
      if (!rng) return x;
      const m = new Float32Array(x.size);
      for (let i = 0; i < m.length; i++) m[i] = rng.next() < keep ? 1 / keep : 0;
      return tf.mul(x, tf.tensor(m, x.shape, 'float32'));
    },
    layerNorm: (x, gain, bias) => {
      const centred = tf.sub(x, tf.mean(x, -1, true));
      const variance = tf.mean(tf.square(centred), -1, true);
      return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, LN_EPSILON))), gain), bias);
    },
    dense: (x, kernel, bias) => tf.add(tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D), bias),
    relu: (x) => tf.relu(x),
    attention: (q, k, v) => {
      const logits = tf.add(tf.mul(tf.matMul(splitHeads(q), splitHeads(k), false, true), 1 / Math.sqrt(dh)), attnBias);
      const out = tf.matMul(tf.softmax(logits), splitHeads(v)); // [rows, H, L, dh]
      return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [n, cfg.dim]);
    },
  };
}

/** A [rows, cols] row-major matrix of float32. */
interface Mat {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

/**
 * Encoder kernels on plain Float32Arrays (inference only: dropout is the identity).
 * Mirrors tfjsEncoderOps; arithmetic in float64 accumulators, results in float32.
 */
export function arrayEncoderOps(
  cfg: SequenceModelConfig,
  params: NamedTensors,
  window: { rows: number; inputs: Int32Array; mask: Float32Array },
): EncoderOps<Mat> {
  const { rows, inputs, mask } = window;
  const L = cfg.maxLen;
  const d = cfg.dim;
  const H = cfg.heads;
  const dh = d / H;
  const n = rows * L;
  const mat = (r: number, c: number): Mat => ({ data: new Float32Array(r * c), rows: r, cols: c });
  const map = (x: Mat, f: (v: number, i: number) => number): Mat => {
    const out = mat(x.rows, x.cols);
    for (let i = 0; i < out.data.length; i++) out.data[i] = f(x.data[i], i);
    return out;
  };
  const shapes = new Map(sequenceModelSpec(cfg).params.map((q) => [q.name, q.shape]));
  return {
    param: (name) => {
      const data = params[name];
      const shape = shapes.get(name);
      if (!data || !shape) throw new FlockError('wrong-shape', `missing sasrec parameter ${name}`);
      return { data, rows: shape.length === 2 ? shape[0] : 1, cols: shape[shape.length - 1] };
    },
    gatherInputs: (table) => {
      const out = mat(n, table.cols);
      for (let i = 0; i < n; i++) out.data.set(table.data.subarray(inputs[i] * table.cols, (inputs[i] + 1) * table.cols), i * table.cols);
      return out;
    },
    scale: (x, s) => map(x, (v) => v * s),
    addPositions: (x, positions) => map(x, (v, i) => v + positions.data[i % (L * d)]),
    add: (a, b) => map(a, (v, i) => v + b.data[i]),
    maskPadding: (x) => map(x, (v, i) => (mask[Math.floor(i / x.cols)] === 0 ? 0 : v)),
    dropout: (x) => x,
    layerNorm: (x, gain, bias) => {
      const out = mat(x.rows, x.cols);
      const c = x.cols;
      for (let r = 0; r < x.rows; r++) {
        const row = x.data.subarray(r * c, (r + 1) * c);
        let mean = 0;
        for (let j = 0; j < c; j++) mean += row[j];
        mean /= c;
        let variance = 0;
        for (let j = 0; j < c; j++) variance += (row[j] - mean) ** 2;
        variance /= c;
        const inv = 1 / Math.sqrt(variance + LN_EPSILON);
        for (let j = 0; j < c; j++) out.data[r * c + j] = (row[j] - mean) * inv * gain.data[j] + bias.data[j];
      }
      return out;
    },
    dense: (x, kernel, bias) => {
      const out = mat(x.rows, kernel.cols);
      const acc = new Float64Array(kernel.cols);
      for (let r = 0; r < x.rows; r++) {
        for (let j = 0; j < kernel.cols; j++) acc[j] = bias.data[j];
        for (let i = 0; i < x.cols; i++) {
          const xv = x.data[r * x.cols + i];
          if (xv === 0) continue;
          const k = i * kernel.cols;
          for (let j = 0; j < kernel.cols; j++) acc[j] += xv * kernel.data[k + j];
        }
        for (let j = 0; j < kernel.cols; j++) out.data[r * kernel.cols + j] = acc[j];
      }
      return out;
    },
    relu: (x) => map(x, (v) => (v > 0 ? v : 0)),
    attention: (q, k, v) => {
      const out = mat(n, d);
      const weights = new Float64Array(L);
      const scale = 1 / Math.sqrt(dh);
      for (let w = 0; w < rows; w++) {
        for (let h = 0; h < H; h++) {
          for (let t = 0; t < L; t++) {
            const qi = (w * L + t) * d + h * dh;
            // Keys ≤ t that are not padding; with none, tf's −1e9 biases give equal weights over keys ≤ t.
            let any = false;
            for (let s = 0; s <= t; s++) if (mask[w * L + s] !== 0) any = true;
            let max = -Infinity;
            for (let s = 0; s < L; s++) {
              if (s > t || (any && mask[w * L + s] === 0)) {
                weights[s] = -Infinity;
                continue;
              }
              let dot = 0;
              if (any) {
                const ki = (w * L + s) * d + h * dh;
                for (let j = 0; j < dh; j++) dot += q.data[qi + j] * k.data[ki + j];
              }
              weights[s] = dot * scale;
              if (weights[s] > max) max = weights[s];
            }
            let total = 0;
            for (let s = 0; s < L; s++) {
              weights[s] = weights[s] === -Infinity ? 0 : Math.exp(weights[s] - max);
              total += weights[s];
            }
            for (let j = 0; j < dh; j++) {
              let acc = 0;
              for (let s = 0; s < L; s++) if (weights[s] !== 0) acc += weights[s] * v.data[(w * L + s) * d + h * dh + j];
              out.data[(w * L + t) * d + h * dh + j] = acc / total;
            }
          }
        }
      }
      return out;
    },
  };
}

/** SASRec next-item model over a person's own sequence; see the notes at the top of this file. */
export function createSequenceModel(cfg: SequenceModelConfig): RecommenderModel<SequenceBatch> {
  validateSequenceConfig(cfg);
  const spec = sequenceModelSpec(cfg);
  const { maxLen, dim } = cfg;
  return {
    spec,
    numItems: cfg.numItems,

    makeBatches(history, tc: TrainConfig, numItems, rng) {
      const seen = excludedFromNegatives(history, cfg.retiredItems);
      const k = Math.max(1, tc.negatives);
      // Transition i: input history[i] → target history[i + 1]. Windows of maxLen
      // transitions, cut from the end so the most recent window is full.
      const windows: [number, number][] = [];
      for (let end = history.length - 1; end > 0; end -= maxLen) windows.push([Math.max(0, end - maxLen), end]);
      rng.shuffle(windows);
      const perBatch = Math.max(1, tc.batchSize);
      const batches: SequenceBatch[] = [];
      for (let start = 0; start < windows.length; start += perBatch) {
        const chunk = windows.slice(start, start + perBatch);
        const rows = chunk.length;
        const inputs = new Int32Array(rows * maxLen);
        const mask = new Float32Array(rows * maxLen);
        const positives = new Int32Array(rows * maxLen);
        const negatives = new Int32Array(rows * maxLen * k);
        let numTargets = 0;
        chunk.forEach(([from, to], row) => {
          fillWindow(history, from, to, maxLen, row, inputs, mask);
          fillWindow(history, from + 1, to + 1, maxLen, row, positives, mask);
          const first = row * maxLen + (maxLen - (to - from));
          const neg = sampleNegativeItems((to - from) * k, numItems, seen, rng);
          negatives.set(neg, first * k);
          numTargets += to - from;
        });
        batches.push({ rows, inputs, mask, positives, negatives, negativesPerPosition: k, numTargets, dropoutSeed: rng.int(0x7fffffff) });
      }
      return batches;
    },

    batchExamples: (b) => b.numTargets,

    loss(vars, batch, tc: TrainConfig) {
      return tf.tidy(() => {
        const { rows, negativesPerPosition: k } = batch;
        const n = rows * maxLen;
        const ops = tfjsEncoderOps(cfg, vars, batch, { seed: batch.dropoutSeed, rate: cfg.dropout });
        const h = encodeSequence(cfg, ops); // [n, d]
        const items = vars.itemEmbedding;
        const posVec = tf.gather(items, tf.tensor1d(batch.positives, 'int32')); // [n, d]
        const negVec = tf.reshape(tf.gather(items, tf.tensor1d(batch.negatives, 'int32')), [n, k, dim]);
        const posScore = tf.sum(tf.mul(h, posVec), 1); // [n]
        const negScore = tf.sum(tf.mul(tf.reshape(h, [n, 1, dim]), negVec), 2); // [n, k]
        const perPosition = tf.add(tf.softplus(tf.neg(posScore)), tf.sum(tf.softplus(negScore), 1));
        const m = tf.tensor1d(batch.mask);
        const count = Math.max(1, batch.numTargets);
        const data = tf.div(tf.sum(tf.mul(perPosition, m)), count);
        const sq = tf.add(tf.sum(tf.square(posVec), 1), tf.sum(tf.square(negVec), [1, 2]));
        const reg = tf.div(tf.sum(tf.mul(sq, m)), count);
        return tf.add(data, tf.mul(tc.l2, reg)) as tf.Scalar;
      });
    },

    scoreAll(globals, _locals, history) {
      // Plain typed arrays, not tfjs: the interface is synchronous, and a synchronous
      // read-back on webgpu (dataSync) breaks later async reads in Chromium here.
      const inputs = new Int32Array(maxLen);
      const mask = new Float32Array(maxLen);
      fillWindow(history, Math.max(0, history.length - maxLen), history.length, maxLen, 0, inputs, mask);
      const h = encodeSequence(cfg, arrayEncoderOps(cfg, globals, { rows: 1, inputs, mask })).data.subarray((maxLen - 1) * dim, maxLen * dim);
      const items = globals.itemEmbedding;
      const scores = new Float32Array(cfg.numItems);
      for (let i = 0; i < cfg.numItems; i++) {
        let s = 0;
        for (let j = 0; j < dim; j++) s += h[j] * items[i * dim + j];
        scores[i] = s;
      }
      return scores;
    },
  };
}
