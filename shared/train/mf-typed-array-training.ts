/**
 * Local training of the embedding (MF) model on plain Float32Arrays: the SAME objective,
 * batches and plain SGD as `createEmbeddingModel(...).loss` run through `trainLocally`
 * (shared/train/local-training.ts), with hand-derived gradients instead of autodiff.
 * It exists for speed: a simulated fleet trains thousands of clients per round, and a
 * TensorFlow.js step costs ~1 ms of overhead whatever its size. Parity with the tfjs
 * path is a unit test (mf-typed-array-training.test.ts).
 *
 * Loss of a batch of n positives p with negatives q (see embedding-model.ts):
 *   L = (Σ_p softplus(−s_p) + Σ_q softplus(s_q)) / n
 *       + l2 · ((Σ_p ‖v_p‖² + Σ_q ‖v_q‖²) / n + ‖u‖²),   s_i = u·v_i + b_i
 * Gradients (summed over every occurrence of an item in the batch, as tf.gather's):
 *   ∂L/∂s_p = (σ(s_p) − 1)/n,  ∂L/∂s_q = σ(s_q)/n
 *   ∂L/∂v_i += ∂L/∂s_i · u + 2·l2·v_i/n,  ∂L/∂b_i += ∂L/∂s_i,  ∂L/∂u = Σ ∂L/∂s_i · v_i + 2·l2·u
 * One SGD step per batch with every gradient taken at the pre-step parameters.
 *
 * A client only touches the rows of its positives and sampled negatives, so training
 * works on a compact copy of those rows (the working set) and returns the Δ of only
 * those rows: no allocation of the full item table per client.
 */
import type { PairBatch } from '../model/embedding-model.ts';
import type { RecommenderModel, TrainConfig } from '../model/recommender-model.ts';
import { SeededRandom } from '../random/seeded-random.ts';

/** The row-sparse Δ of the MF model's GLOBAL parameters: only touched rows, rows ascending. */
export interface MfRowDelta {
  /** Touched item ids, strictly increasing. */
  readonly rows: Int32Array;
  /** rows.length × dim: Δ of itemEmbedding for those rows. */
  readonly itemEmbedding: Float32Array;
  /** rows.length: Δ of itemBias for those rows. */
  readonly itemBias: Float32Array;
}

export interface MfLocalResult {
  readonly delta: MfRowDelta;
  /** The user's embedding after training (LOCAL, never sent). */
  readonly userEmbedding: Float32Array;
  /** Mean batch loss over the last epoch (as trainOnBatches reports it). */
  readonly loss: number;
  /** Positives seen in one epoch (the FedAvg weight). */
  readonly numExamples: number;
  readonly steps: number;
}

/** Scratch buffers reused across clients so a fleet allocates per client only what it returns. */
export class MfScratch {
  gradS = new Float64Array(0);
  gradU = new Float64Array(0);
  gradV = new Float64Array(0);
  gradB = new Float64Array(0);
  slots = new Int32Array(0);
  ensure(dim: number, maxBatchRows: number, workingRows: number, numItems: number): void {
    if (this.gradS.length < maxBatchRows) this.gradS = new Float64Array(maxBatchRows);
    if (this.gradU.length < dim) this.gradU = new Float64Array(dim);
    if (this.gradV.length < workingRows * dim) this.gradV = new Float64Array(workingRows * dim);
    if (this.gradB.length < workingRows) this.gradB = new Float64Array(workingRows);
    if (this.slots.length < numItems) this.slots = new Int32Array(numItems).fill(-1);
  }
}

const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * The distinct items of one batch (positives, then negatives, first occurrence order): the
 * rows mfSgdStep touches. `mark` is a zeroed scratch of numItems bytes, left zeroed.
 */
export function batchTouchedItems(positives: ArrayLike<number>, negatives: ArrayLike<number>, mark: Uint8Array): number[] {
  const touched: number[] = [];
  for (const src of [positives, negatives]) {
    for (let j = 0; j < src.length; j++) {
      if (mark[src[j]] === 0) {
        mark[src[j]] = 1;
        touched.push(src[j]);
      }
    }
  }
  for (const i of touched) mark[i] = 0;
  return touched;
}

/**
 * One SGD step on a batch over tables indexed by `pos`/`neg` (indices into `items` rows).
 * Updates items, bias and user in place; returns the batch loss (before the step).
 * `touched` lists the distinct row indices of the batch (where gradV/gradB are cleared).
 */
export function mfSgdStep(
  items: Float32Array,
  bias: Float32Array,
  user: Float32Array,
  dim: number,
  pos: ArrayLike<number>,
  neg: ArrayLike<number>,
  cfg: Pick<TrainConfig, 'learningRate' | 'l2'>,
  scratch: MfScratch,
  touched: ArrayLike<number>,
): number {
  mfClearGradients(scratch, dim, touched);
  const loss = mfAccumulateGradients(items, bias, user, dim, pos, neg, cfg.l2, scratch);
  mfApplyGradients(items, bias, user, dim, cfg.learningRate, 1, scratch, touched);
  return loss;
}

/** Zeroes the gradient of the rows in `touched` and of the user vector. */
export function mfClearGradients(scratch: MfScratch, dim: number, touched: ArrayLike<number>): void {
  const { gradU, gradV, gradB } = scratch;
  for (let t = 0; t < touched.length; t++) {
    const r = touched[t];
    gradB[r] = 0;
    gradV.fill(0, r * dim, r * dim + dim);
  }
  gradU.fill(0, 0, dim);
}

/** Adds the gradient of one batch's loss (at the current parameters) into scratch; returns the loss. */
export function mfAccumulateGradients(
  items: Float32Array,
  bias: Float32Array,
  user: Float32Array,
  dim: number,
  pos: ArrayLike<number>,
  neg: ArrayLike<number>,
  l2: number,
  scratch: MfScratch,
): number {
  const n = pos.length;
  const m = neg.length;
  const { gradS, gradU, gradV, gradB } = scratch;
  let data = 0;
  let reg = 0;
  for (let k = 0; k < n + m; k++) {
    const isPos = k < n;
    const i = isPos ? pos[k] : neg[k - n];
    const row = i * dim;
    let s = bias[i];
    let sq = 0;
    for (let d = 0; d < dim; d++) {
      const v = items[row + d];
      s += v * user[d];
      sq += v * v;
    }
    s = Math.fround(s);
    reg += sq;
    if (isPos) {
      data += softplus(-s);
      gradS[k] = (sigmoid(s) - 1) / n;
    } else {
      data += softplus(s);
      gradS[k] = sigmoid(s) / n;
    }
  }
  let uu = 0;
  for (let d = 0; d < dim; d++) uu += user[d] * user[d];
  const loss = data / n + l2 * (reg / n + uu);

  for (let d = 0; d < dim; d++) gradU[d] += 2 * l2 * user[d];
  const regScale = (2 * l2) / n;
  for (let k = 0; k < n + m; k++) {
    const i = k < n ? pos[k] : neg[k - n];
    const g = gradS[k];
    const row = i * dim;
    gradB[i] += g;
    for (let d = 0; d < dim; d++) {
      const v = items[row + d];
      gradU[d] += g * v;
      gradV[row + d] += g * user[d] + regScale * v;
    }
  }
  return loss;
}

/** SGD on the accumulated gradient divided by `divisor` (the number of micro-batches). */
export function mfApplyGradients(
  items: Float32Array,
  bias: Float32Array,
  user: Float32Array,
  dim: number,
  learningRate: number,
  divisor: number,
  scratch: MfScratch,
  touched: ArrayLike<number>,
): void {
  const { gradU, gradV, gradB } = scratch;
  const lr = learningRate;
  for (let t = 0; t < touched.length; t++) {
    const r = touched[t];
    bias[r] -= lr * (gradB[r] / divisor);
    const row = r * dim;
    for (let d = 0; d < dim; d++) items[row + d] -= lr * (gradV[row + d] / divisor);
  }
  for (let d = 0; d < dim; d++) user[d] -= lr * (gradU[d] / divisor);
}

function distinct(arrays: readonly Int32Array[], mark: Uint8Array): Int32Array {
  const out: number[] = [];
  for (const src of arrays) {
    for (let j = 0; j < src.length; j++) {
      const i = src[j];
      if (mark[i] === 0) {
        mark[i] = 1;
        out.push(i);
      }
    }
  }
  for (const i of out) mark[i] = 0;
  return Int32Array.from(out);
}

/**
 * A client's local training: batches exactly as trainLocally makes them (model.makeBatches
 * with SeededRandom(seed), one call per epoch), SGD on a compact copy of the touched rows,
 * and Δ = w_local − w_v of those rows (float32, as globalDelta computes it).
 */
export function trainMfLocally(
  model: RecommenderModel<PairBatch>,
  dim: number,
  globals: { readonly itemEmbedding: Float32Array; readonly itemBias: Float32Array },
  userEmbedding: Float32Array,
  history: Int32Array,
  cfg: TrainConfig,
  seed: number,
  scratch: MfScratch = new MfScratch(),
): MfLocalResult {
  const numItems = model.numItems;
  const rng = new SeededRandom(seed);
  const epochs: PairBatch[][] = [];
  for (let e = 0; e < cfg.localEpochs; e++) epochs.push(model.makeBatches(history, cfg, numItems, rng));

  // Working set: distinct items over all batches, remapped to slots 0..W-1.
  scratch.ensure(dim, cfg.batchSize * (1 + cfg.negatives), 0, numItems);
  const slots = scratch.slots;
  const rowsList: number[] = [];
  for (const batches of epochs) {
    for (const b of batches) {
      for (const src of [b.positives, b.negatives]) {
        for (let j = 0; j < src.length; j++) {
          const i = src[j];
          if (slots[i] < 0) {
            slots[i] = rowsList.length;
            rowsList.push(i);
          }
        }
      }
    }
  }
  const rows = Int32Array.from(rowsList).sort();
  for (let s = 0; s < rows.length; s++) slots[rows[s]] = s;
  const W = rows.length;
  let maxRows = 0;
  for (const batches of epochs) for (const b of batches) maxRows = Math.max(maxRows, b.positives.length + b.negatives.length);
  scratch.ensure(dim, maxRows, W, numItems);

  const items = new Float32Array(W * dim);
  const bias = new Float32Array(W);
  const gEmb = globals.itemEmbedding;
  const gBias = globals.itemBias;
  for (let s = 0; s < W; s++) {
    const src = rows[s] * dim;
    const dst = s * dim;
    for (let d = 0; d < dim; d++) items[dst + d] = gEmb[src + d];
    bias[s] = gBias[rows[s]];
  }
  const user = Float32Array.from(userEmbedding);
  const mark = new Uint8Array(W);

  let steps = 0;
  let lastEpochLoss = 0;
  let numExamples = 0;
  // Gradient accumulation as trainOnBatches: groups of `accumulate` micro-batches, the
  // mean of their gradients (all taken at the same parameters) as one SGD step.
  const accumulate = Math.max(1, Math.floor(cfg.accumulationSteps ?? 1));
  for (const batches of epochs) {
    let sum = 0;
    let examples = 0;
    for (let g = 0; g < batches.length; g += accumulate) {
      const group = batches.slice(g, g + accumulate);
      const remapped = group.map((b) => {
        const pos = new Int32Array(b.positives.length);
        for (let j = 0; j < pos.length; j++) pos[j] = slots[b.positives[j]];
        const neg = new Int32Array(b.negatives.length);
        for (let j = 0; j < neg.length; j++) neg[j] = slots[b.negatives[j]];
        return { pos, neg };
      });
      const touched = distinct(remapped.flatMap((x) => [x.pos, x.neg]), mark);
      mfClearGradients(scratch, dim, touched);
      for (const { pos, neg } of remapped) sum += mfAccumulateGradients(items, bias, user, dim, pos, neg, cfg.l2, scratch);
      mfApplyGradients(items, bias, user, dim, cfg.learningRate, group.length, scratch, touched);
      for (const b of group) examples += b.positives.length;
      steps++;
    }
    if (batches.length > 0) lastEpochLoss = sum / batches.length;
    numExamples = examples;
  }
  for (let s = 0; s < W; s++) slots[rows[s]] = -1;

  // Δ in float32, like globalDelta: a[i] − b[i] stored into a Float32Array.
  for (let s = 0; s < W; s++) {
    const base = rows[s] * dim;
    for (let d = 0; d < dim; d++) items[s * dim + d] -= gEmb[base + d];
    bias[s] -= gBias[rows[s]];
  }
  return { delta: { rows, itemEmbedding: items, itemBias: bias }, userEmbedding: user, loss: lastEpochLoss, numExamples, steps };
}

/** The dense NamedTensors form of a row delta (for tests and for the wire codec). */
export function densifyMfDelta(delta: MfRowDelta, numItems: number, dim: number): { itemEmbedding: Float32Array; itemBias: Float32Array } {
  const itemEmbedding = new Float32Array(numItems * dim);
  const itemBias = new Float32Array(numItems);
  for (let s = 0; s < delta.rows.length; s++) {
    itemEmbedding.set(delta.itemEmbedding.subarray(s * dim, s * dim + dim), delta.rows[s] * dim);
    itemBias[delta.rows[s]] = delta.itemBias[s];
  }
  return { itemEmbedding, itemBias };
}
