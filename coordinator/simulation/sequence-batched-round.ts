/**
 * The SASRec clients of one simulated round trained together: one batched
 * forward/backward per local step over every client that has a batch at that step,
 * instead of one TensorFlow.js training run per client (trainLocally).
 *
 * Exact by construction, not an approximation: every client keeps its OWN copy of the
 * parameters, as a client does.
 * - Dense parameters (attention/FFN kernels and biases, layer norms, positional
 *   embedding) are kept per client; each window (row) of the step gets a copy of its
 *   client's parameters, [rows, …shape], and the layers run as batched matmuls
 *   ([rows, L, d] × [rows, d, d]). Summing the per-window gradients by client gives
 *   each client's own gradient — the per-client
 *   gradient norms needed for clipping come from exact per-client gradients, not from
 *   a shared sum.
 * - The item table is not copied per client: the leaf is the set of (client, item) rows
 *   the step touches, filled from that client's current rows (the globals, or its own
 *   earlier updates). Untouched rows have an exactly zero gradient in the per-client
 *   path and stay equal to the globals there too.
 * - The loss is Σ_clients L_k (each L_k normalised by its own batch's target count, as
 *   the model's loss does), so ∂/∂(copy k) = ∇L_k exactly.
 * - Dropout masks are drawn from each batch's own seed, client by client, in the
 *   encoder's call order: the same masks as the per-client path (dropout need not be 0).
 * - The SGD step is tfjs's (w + (−lr)·g in float32), applied per client in JS.
 *
 * So the first local step of every client is one batched computation at the shared
 * global weights, and later steps carry on batched with diverged per-client weights
 * (clients with fewer steps simply drop out of later steps). The cost of the later
 * steps is memory: the dense parameters once per client (for ML-100K, dim 32, 2 blocks:
 * 14 k floats ≈ 56 KB per client) plus the item rows each client has touched.
 * Differences from the per-client path are float summation order only (batched matmul,
 * segment sums); the unit test bounds them. Gradient accumulation
 * (TrainConfig.accumulationSteps > 1) is not supported here: callers fall back.
 */
import * as tf from '@tensorflow/tfjs';
import { encodeSequence, sequenceModelSpec, type EncoderOps, type SequenceBatch, type SequenceModelConfig } from '../../shared/model/sasrec-model.ts';
import type { RecommenderModel, TrainConfig } from '../../shared/model/recommender-model.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { trainLocally, type LocalTrainingResult } from '../../shared/train/local-training.ts';

const LN_EPSILON = 1e-6;
const MASKED_LOGIT = -1e9;
const ITEMS = 'itemEmbedding';

/** True when trainClientsBatched computes the same updates as trainLocally for this config. */
export function batchedTrainingExact(train: TrainConfig): boolean {
  return Math.max(1, Math.floor(train.accumulationSteps ?? 1)) === 1;
}

/** One step's combined batch: the windows of the clients active at that step, client after client. */
interface StepBatch {
  readonly rows: number;
  /** Client (index into the active list) of each window. */
  readonly rowClient: Int32Array;
  readonly mask: Float32Array;
  /** rows·L: index into the item leaf of each input / positive; rows·L·k negatives. */
  readonly inputs: Int32Array;
  readonly positives: Int32Array;
  readonly negatives: Int32Array;
  readonly negativesPerPosition: number;
  /** rows·L: mask / (the client's target count): the weight of each position in Σ_k L_k. */
  readonly weight: Float32Array;
}

/**
 * Trains each client (its batches per epoch, as trainLocally's makeBatches gives them)
 * from the same `globals` with plain SGD; returns what trainLocally returns, per client,
 * in order.
 */
export async function trainClientsBatched(
  cfg: SequenceModelConfig,
  globals: NamedTensors,
  clients: readonly (readonly (readonly SequenceBatch[])[])[],
  train: TrainConfig,
): Promise<LocalTrainingResult[]> {
  if (!batchedTrainingExact(train)) throw new Error('trainClientsBatched: gradient accumulation is not supported');
  const spec = sequenceModelSpec(cfg);
  const { maxLen: L, dim: d, numItems } = cfg;
  const K = clients.length;
  const stacked = spec.params.filter((p) => p.name !== ITEMS);
  const sizes = new Map(spec.params.map((p) => [p.name, p.shape.reduce((a, b) => a * b, 1)]));
  // Per-client copies of the dense parameters, tiled from the globals.
  const stacks: Record<string, Float32Array> = {};
  for (const p of stacked) {
    const size = sizes.get(p.name)!;
    const s = new Float32Array(K * size);
    for (let k = 0; k < K; k++) s.set(globals[p.name], k * size);
    stacks[p.name] = s;
  }
  // Per-client item rows changed so far (item → row).
  // Per-client item rows changed so far: ownRow[k·numItems + item] = row in `pool`, or −1.
  const ownRow = new Int32Array(K * numItems).fill(-1);
  let pool: Float32Array = new Float32Array(1024 * d);
  let poolRows = 0;
  // Per-step (active client, item) → row of the step's item leaf, or −1 (reset after each step).
  const leafIndex = new Int32Array(K * numItems).fill(-1);
  const flat = clients.map((epochs) => epochs.flatMap((batches, e) => batches.map((b) => ({ b, e }))));
  const lossSums = clients.map((epochs) => new Float64Array(epochs.length));
  const steps = Math.max(0, ...flat.map((f) => f.length));
  const c = Math.fround(-train.learningRate);

  for (let s = 0; s < steps; s++) {
    const active: number[] = [];
    for (let k = 0; k < K; k++) if (flat[k].length > s) active.push(k);
    const batches = active.map((k) => flat[k][s].b);
    const A = active.length;
    const kNeg = batches[0].negativesPerPosition;
    const rows = batches.reduce((n, b) => n + b.rows, 0);
    const n = rows * L;
    // Item leaf: one row per (active client, item) the step reads.
    const leafItems: number[] = [];
    const leafClients: number[] = [];
    const leafOf = (a: number, item: number): number => {
      const key = active[a] * numItems + item;
      let i = leafIndex[key];
      if (i < 0) {
        i = leafItems.length;
        leafIndex[key] = i;
        leafItems.push(item);
        leafClients.push(active[a]);
      }
      return i;
    };
    const rowClient = new Int32Array(rows);
    const mask = new Float32Array(n);
    const inputs = new Int32Array(n);
    const positives = new Int32Array(n);
    const negatives = new Int32Array(n * kNeg);
    const weight = new Float32Array(n);
    let row = 0;
    batches.forEach((b, a) => {
      if (b.negativesPerPosition !== kNeg) throw new Error('trainClientsBatched: clients disagree on negatives per position');
      const inv = 1 / Math.max(1, b.numTargets);
      const off = row * L;
      for (let i = 0; i < b.rows * L; i++) {
        inputs[off + i] = leafOf(a, b.inputs[i]);
        positives[off + i] = leafOf(a, b.positives[i]);
        mask[off + i] = b.mask[i];
        weight[off + i] = b.mask[i] * inv;
      }
      for (let i = 0; i < b.rows * L * kNeg; i++) negatives[off * kNeg + i] = leafOf(a, b.negatives[i]);
      rowClient.fill(a, row, row + b.rows);
      row += b.rows;
    });
    const step: StepBatch = { rows, rowClient, mask, inputs, positives, negatives, negativesPerPosition: kNeg, weight };
    const leaf = new Float32Array(leafItems.length * d);
    for (let i = 0; i < leafItems.length; i++) {
      const own = ownRow[leafClients[i] * numItems + leafItems[i]];
      leaf.set(own >= 0 ? pool.subarray(own * d, (own + 1) * d) : globals[ITEMS].subarray(leafItems[i] * d, (leafItems[i] + 1) * d), i * d);
    }
    // Each window gets its own copy of its client's dense parameters ([rows, …shape],
    // filled here rather than by tf.gather, slow on wasm); its gradient is summed back
    // per client below.
    const stackTensors = stacked.map((p) => {
      const size = sizes.get(p.name)!;
      const v = new Float32Array(rows * size);
      for (let r = 0; r < rows; r++) {
        const k = active[rowClient[r]];
        v.set(stacks[p.name].subarray(k * size, (k + 1) * size), r * size);
      }
      return tf.tensor(v, [rows, ...p.shape], 'float32');
    });
    // The item rows each position reads, gathered here (tfjs's GatherV2 and its gradient
    // are slow on wasm); their gradients are summed back per (client, item) below.
    const gatherRows = (idx: Int32Array): tf.Tensor2D => {
      const v = new Float32Array(idx.length * d);
      for (let i = 0; i < idx.length; i++) v.set(leaf.subarray(idx[i] * d, (idx[i] + 1) * d), i * d);
      return tf.tensor2d(v, [idx.length, d]);
    };
    const itemTensors = [gatherRows(inputs), gatherRows(positives), gatherRows(negatives)];
    const dropoutRngs = cfg.dropout > 0 ? batches.map((b) => new SeededRandom(b.dropoutSeed)) : null;
    let perPosition: tf.Tensor | null = null;
    const f = (...xs: tf.Tensor[]): tf.Scalar => {
      const params: Record<string, tf.Tensor> = {};
      stacked.forEach((p, i) => (params[p.name] = xs[i + 3]));
      const { total, contributions } = stepLoss(cfg, params, { inputs: xs[0], positives: xs[1], negatives: xs[2] }, step, batches, dropoutRngs, train.l2, s === 0);
      perPosition = tf.keep(contributions);
      return total;
    };
    const { value, grads } = tf.valueAndGrads(f)([...itemTensors, ...stackTensors]);
    const [gradData, contribData] = await Promise.all([Promise.all(grads.map((g) => g.data() as Promise<Float32Array>)), perPosition!.data() as Promise<Float32Array>]);
    tf.dispose([value, ...grads, perPosition!, ...itemTensors, ...stackTensors]);
    // SGD, as tf.train.sgd: w ← (−lr)·g + w in float32.
    const gLeaf = new Float32Array(leaf.length);
    [inputs, positives, negatives].forEach((idx, t) => scatterRows(gLeaf, idx, gradData[t], d));
    const applied = applyLeafStep(pool, poolRows, leaf, gLeaf, leafItems, leafClients, leafIndex, ownRow, numItems, d, c);
    pool = applied.pool;
    poolRows = applied.rows;
    const windowRows = Int32Array.from(batches, (b) => b.rows);
    const activeK = Int32Array.from(active);
    stacked.forEach((p, pi) => applyWindowGrads(stacks[p.name], gradData[pi + 3], sizes.get(p.name)!, windowRows, activeK, c));
    row = 0;
    batches.forEach((b, a) => {
      let sum = 0;
      for (let i = row * L; i < (row + b.rows) * L; i++) sum += contribData[i];
      lossSums[active[a]][flat[active[a]][s].e] += sum;
      row += b.rows;
    });
  }

  return clients.map((epochs, k) => {
    const out: NamedTensors = {};
    for (const p of spec.params) {
      if (p.name === ITEMS) {
        const table = Float32Array.from(globals[ITEMS]);
        for (let item = 0; item < numItems; item++) {
          const own = ownRow[k * numItems + item];
          if (own >= 0) table.set(pool.subarray(own * d, (own + 1) * d), item * d);
        }
        out[ITEMS] = table;
      } else {
        const size = sizes.get(p.name)!;
        out[p.name] = stacks[p.name].slice(k * size, (k + 1) * size);
      }
    }
    const last = epochs[epochs.length - 1] ?? [];
    const lastLoss = last.length > 0 ? lossSums[k][epochs.length - 1] / last.length : 0;
    return { globals: out, locals: {}, loss: lastLoss, numExamples: last.reduce((m, b) => m + b.numTargets, 0), steps: flat[k].length };
  });
}

/** out[idx[i]] += g[i] for rows of width d. */
function scatterRows(out: Float32Array, idx: Int32Array, g: Float32Array, d: number): void {
  for (let i = 0; i < idx.length; i++) {
    const o = idx[i] * d;
    const s = i * d;
    for (let j = 0; j < d; j++) out[o + j] += g[s + j];
  }
}

/**
 * SGD on the step's item rows, stored as each client's own rows in `pool` (grown as
 * needed); clears the step's (client, item) index. Returns the pool and its row count.
 */
function applyLeafStep(
  pool: Float32Array, rows: number, leaf: Float32Array, gLeaf: Float32Array, leafItems: readonly number[], leafClients: readonly number[],
  leafIndex: Int32Array, ownRow: Int32Array, numItems: number, d: number, c: number,
): { pool: Float32Array; rows: number } {
  for (let i = 0; i < leafItems.length; i++) {
    const key = leafClients[i] * numItems + leafItems[i];
    leafIndex[key] = -1;
    let own = ownRow[key];
    if (own < 0) {
      if ((rows + 1) * d > pool.length) {
        const grown = new Float32Array(pool.length * 2);
        grown.set(pool);
        pool = grown;
      }
      own = ownRow[key] = rows++;
    }
    const o = own * d;
    const l = i * d;
    for (let j = 0; j < d; j++) pool[o + j] = Math.fround(c * gLeaf[l + j]) + leaf[l + j];
  }
  return { pool, rows };
}

/** Sums each client's per-window gradients (windows client after client) and applies w ← c·g + w to its copy. */
function applyWindowGrads(stack: Float32Array, g: Float32Array, size: number, windowRows: Int32Array, activeK: Int32Array, c: number): void {
  const sum = new Float32Array(size);
  let r = 0;
  for (let a = 0; a < activeK.length; a++) {
    sum.fill(0);
    for (let w = 0; w < windowRows[a]; w++, r++) {
      const o = r * size;
      for (let j = 0; j < size; j++) sum[j] += g[o + j];
    }
    const o = activeK[a] * size;
    for (let j = 0; j < size; j++) stack[o + j] = Math.fround(c * sum[j]) + stack[o + j];
  }
}

/** Σ_k L_k over the step's windows, and each position's contribution (for per-client losses). */
function stepLoss(
  cfg: SequenceModelConfig,
  params: Record<string, tf.Tensor>,
  /** The item rows read by each input, positive and negative position. */
  itemRows: { inputs: tf.Tensor; positives: tf.Tensor; negatives: tf.Tensor },
  step: StepBatch,
  batches: readonly SequenceBatch[],
  dropoutRngs: SeededRandom[] | null,
  l2: number,
  /** Every window's parameters are equal (the first local step: all clients at the globals). */
  shared: boolean,
): { total: tf.Scalar; contributions: tf.Tensor1D } {
  const { rows, negativesPerPosition: k } = step;
  const L = cfg.maxLen;
  const d = cfg.dim;
  const H = cfg.heads;
  const dh = d / H;
  const n = rows * L;
  const perRow = new Map<string, tf.Tensor>();
  const mask3 = tf.tensor3d(step.mask, [rows, L, 1]);
  const keyBias = tf.reshape(tf.mul(tf.sub(1, tf.tensor1d(step.mask)), MASKED_LOGIT), [rows, 1, 1, L]);
  const causal = new Float32Array(L * L);
  for (let q = 0; q < L; q++) for (let s = q + 1; s < L; s++) causal[q * L + s] = MASKED_LOGIT;
  const attnBias = tf.add(tf.tensor4d(causal, [1, 1, L, L]), keyBias);
  const keep = 1 - cfg.dropout;
  const splitHeads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [rows, L, H, dh]), [0, 2, 1, 3]);
  // x [rows, L, d] · w [rows, d, d] when every window's w is the same: one 2-D matmul
  // forward and for ∂x (XNNPACK; a batched matmul with a different right-hand side per
  // window takes wasm's slow path), each window's own ∂w = xᵀ·∂y as one batched matmul.
  const sharedMatMulImpl = (x: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => {
    const w0 = tf.reshape(tf.slice(w, [0, 0, 0], [1, d, d]), [d, d]);
    save([x, w0]);
    return {
      value: tf.reshape(tf.matMul(tf.reshape(x, [n, d]) as tf.Tensor2D, w0 as tf.Tensor2D), [rows, L, d]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.reshape(tf.matMul(tf.reshape(dy, [n, d]) as tf.Tensor2D, saved[1] as tf.Tensor2D, false, true), [rows, L, d]),
        tf.matMul(saved[0] as tf.Tensor3D, dy as tf.Tensor3D, true, false),
      ],
    };
  };
  const sharedMatMul = tf.customGrad(sharedMatMulImpl as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, w: tf.Tensor) => tf.Tensor;
  const ops: EncoderOps<tf.Tensor> = {
    param: (name) => {
      if (name === ITEMS) return itemRows.inputs;
      let t = perRow.get(name);
      if (!t) {
        const g = params[name]; // [rows, …shape]: each window its client's copy
        t = g.rank === 2 ? tf.reshape(g, [rows, 1, g.shape[1]!]) : g;
        perRow.set(name, t);
      }
      return t;
    },
    gatherInputs: (rowsRead) => tf.reshape(rowsRead, [rows, L, d]),
    scale: (x, s) => tf.mul(x, s),
    addPositions: (x, positions) => tf.add(x, positions),
    add: (a, b) => tf.add(a, b),
    maskPadding: (x) => tf.mul(x, mask3),
    dropout: (x) => {
      if (!dropoutRngs) return x;
      // Each client's mask from its own batch seed, in the order its own run draws them.
      const m = new Float32Array(x.size);
      const perPos = x.size / n;
      let i = 0;
      batches.forEach((b, a) => {
        const rng = dropoutRngs[a];
        const end = i + b.rows * L * perPos;
        for (; i < end; i++) m[i] = rng.next() < keep ? 1 / keep : 0;
      });
      return tf.mul(x, tf.tensor(m, x.shape, 'float32'));
    },
    layerNorm: (x, gain, bias) => {
      const centred = tf.sub(x, tf.mean(x, -1, true));
      const variance = tf.mean(tf.square(centred), -1, true);
      return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, LN_EPSILON))), gain), bias);
    },
    dense: (x, kernel, bias) => tf.add(shared ? sharedMatMul(x, kernel) : tf.matMul(x as tf.Tensor3D, kernel as tf.Tensor3D), bias),
    relu: (x) => tf.relu(x),
    attention: (q, kk, v) => {
      const logits = tf.add(tf.mul(tf.matMul(splitHeads(q), splitHeads(kk), false, true), 1 / Math.sqrt(dh)), attnBias);
      const out = tf.matMul(tf.softmax(logits), splitHeads(v)); // [rows, H, L, dh]
      return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [rows, L, d]);
    },
  };
  const h = tf.reshape(encodeSequence(cfg, ops), [n, d]);
  const posVec = itemRows.positives;
  const negVec = tf.reshape(itemRows.negatives, [n, k, d]);
  const posScore = tf.sum(tf.mul(h, posVec), 1);
  const negScore = tf.sum(tf.mul(tf.reshape(h, [n, 1, d]), negVec), 2);
  const perPosition = tf.add(tf.softplus(tf.neg(posScore)), tf.sum(tf.softplus(negScore), 1));
  const sq = tf.add(tf.sum(tf.square(posVec), 1), tf.sum(tf.square(negVec), [1, 2]));
  const contributions = tf.mul(tf.add(perPosition, tf.mul(l2, sq)), tf.tensor1d(step.weight)) as tf.Tensor1D;
  return { total: tf.sum(contributions) as tf.Scalar, contributions };
}

/** Clients per batched computation in the simulation (bounds tfjs memory: activations grow with the windows of the group). */
export const DEFAULT_BATCH_CLIENTS = 128;

/** One client of a round: its training sequence and its training seed (trainLocally's). */
export interface SequenceClientJob {
  readonly history: Int32Array;
  readonly seed: number;
}

/**
 * The clients of a round, trained from the same globals: groups of `batchClients`
 * through trainClientsBatched when that is exact for `train` (batchedTrainingExact),
 * otherwise — or with batchClients ≤ 1 — one trainLocally per client. Batches come from
 * the model's makeBatches with trainLocally's seeded generator, so either way each
 * client's result equals trainLocally's (within float summation order when batched).
 * Yields [index into jobs, result] in order, a group at a time.
 */
export async function* trainSequenceClients(
  model: RecommenderModel<SequenceBatch>,
  cfg: SequenceModelConfig,
  globals: NamedTensors,
  jobs: readonly SequenceClientJob[],
  train: TrainConfig,
  batchClients: number = DEFAULT_BATCH_CLIENTS,
): AsyncGenerator<[number, LocalTrainingResult]> {
  if (batchClients <= 1 || !batchedTrainingExact(train)) {
    for (let i = 0; i < jobs.length; i++) yield [i, await trainLocally(model, globals, {}, jobs[i].history, train, jobs[i].seed)];
    return;
  }
  for (let start = 0; start < jobs.length; start += batchClients) {
    const group = jobs.slice(start, start + batchClients).map((job) => {
      const rng = new SeededRandom(job.seed);
      const epochs: SequenceBatch[][] = [];
      for (let e = 0; e < train.localEpochs; e++) epochs.push(model.makeBatches(job.history, train, model.numItems, rng));
      return epochs;
    });
    const results = await trainClientsBatched(cfg, globals, group, train);
    for (let i = 0; i < results.length; i++) yield [start + i, results[i]];
  }
}
