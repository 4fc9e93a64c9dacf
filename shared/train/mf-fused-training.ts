/**
 * The MF client step as fused typed-array kernels over many clients per call: the same
 * batches, SGD steps, Δ and L2 clipping as trainMfLocally (mf-typed-array-training.ts,
 * itself at parity with tfjs trainLocally on createEmbeddingModel) + clipRowSparseToL2,
 * bit for bit (a unit test compares them), with the per-client overheads removed:
 *
 * - Batches: makeBatches' draws (one Fisher–Yates shuffle of the history per epoch, then
 *   per batch `negatives × positives` rejection-sampled negatives, SeededRandom(seed))
 *   replayed into reused scratch arrays: no per-client Set (a stamp per item marks the
 *   history) and no shuffled Array copy.
 * - Working set: the touched rows, sorted ascending, gathered ONCE straight into the
 *   output arena, trained in place there and turned into Δ = w_local − w_global in place
 *   (float32, as globalDelta).
 * - One pass per batch: each row's logit s = u·v + b, σ(s), its contribution to ∂L/∂u and,
 *   for a row that occurs once in the step (the common case), its SGD update
 *   v ← v − lr·(g·u + (2·l2/n)·v), b ← b − lr·g, all while the row is in registers/L1.
 *   Rows that occur more than once in a step (a negative drawn twice, or gradient
 *   accumulation) keep trainMfLocally's gradient buffer and are applied after the pass,
 *   so every gradient is still taken at the pre-step parameters.
 * - The loss (softplus terms and ‖v‖²) only where it is reported: the last local epoch
 *   (trainMfLocally reports the last epoch's mean batch loss), and not at all with
 *   `computeLoss: false`.
 * - Clipping folded into the Δ pass: the float64 sum of squares (embedding rows, then
 *   biases — clipRowSparseToL2's order) is accumulated while Δ is written, and only a
 *   clipped update is touched again (scaled in place); an unclipped one is never copied.
 *
 * Many clients per call (trainMfClients) over shared typed arrays: the item table and the
 * user vectors can be SharedArrayBuffer views read by several worker_threads at once;
 * each client's result is a slice of one arena per call. Each client's result depends
 * only on its seed, the globals and its own user vector, so any split of a round's clients
 * across calls or threads gives the same numbers.
 *
 * Plain JS, so it runs unchanged wherever JS does (no node: imports). `kernel: 'wasm'`
 * runs each client through the WebAssembly SIMD build of the same step instead
 * (mf-wasm-kernel.ts; float32 sums, same draws and working sets), into the same arena.
 */
import { FlockError } from '../errors.ts';
import type { TrainConfig } from '../model/recommender-model.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { MfWasmKernel } from './mf-wasm-kernel.ts';

/** The MF tables a call reads (globals) and updates (the trained clients' user vectors). */
export interface MfFleetTables {
  readonly numItems: number;
  readonly dim: number;
  /** numItems × dim, read only. */
  readonly itemEmbedding: Float32Array;
  /** numItems, read only. */
  readonly itemBias: Float32Array;
  /** numUsers × dim; a trained client's row is overwritten with its trained vector. */
  readonly users: Float32Array;
  /** CSR train histories: user u's items are items[offsets[u] .. offsets[u+1]). */
  readonly historyOffsets: Int32Array;
  readonly historyItems: Int32Array;
}

export interface MfFusedOptions {
  readonly train: TrainConfig;
  /** L2 bound on each client's Δ; Infinity = no clipping (the norm is still reported). */
  readonly clipNorm: number;
  /** Compute the reported loss (default true); false skips every softplus and ‖v‖². */
  readonly computeLoss?: boolean;
  /**
   * 'js' (default): this file's float64 kernel, bit-identical to trainMfLocally. 'wasm':
   * the WebAssembly SIMD kernel (mf-wasm-kernel.ts; same batches and working sets, float32
   * sums, within 1e-5 per step of tfjs), needs dim % 4 === 0 and WebAssembly SIMD.
   */
  readonly kernel?: MfKernel;
}

export type MfKernel = 'js' | 'wasm';

/**
 * The clipped row-sparse Δs of a call's clients, in call order: client c's rows are
 * rows[rowOffsets[c] .. rowOffsets[c+1]) (strictly increasing), with their Δ rows in
 * itemEmbedding (× dim) and itemBias at the same positions.
 */
export interface MfClientsResult {
  readonly rowOffsets: Int32Array;
  readonly rows: Int32Array;
  readonly itemEmbedding: Float32Array;
  readonly itemBias: Float32Array;
  readonly numExamples: Int32Array;
  /** Mean batch loss of the last local epoch (NaN with computeLoss false). */
  readonly loss: Float64Array;
  readonly preClipNorm: Float64Array;
  readonly clipped: Uint8Array;
}

/**
 * Scratch reused across clients and calls (one per thread), including the output arena:
 * a call's result stays valid until the next call on the same scratch. With `shared`,
 * the arena lives in SharedArrayBuffers, so a worker thread's result can be posted to
 * another thread without a copy (structured clone shares the memory).
 */
export class MfFusedScratch {
  private numItems = 0;
  private arena: Arena | null = null;
  private wasmKernel: MfWasmKernel | null;
  /**
   * `wasmKernel`: an instance already loaded (MfWasmKernel.load(), a browser main thread,
   * where synchronous compilation is refused); absent: compiled on first use (create()).
   */
  constructor(private readonly opts: { readonly shared?: boolean; readonly wasmKernel?: MfWasmKernel } = {}) {
    this.wasmKernel = opts.wasmKernel ?? null;
  }

  /** The next call writes a fresh arena: results already returned stay valid for whoever holds them. */
  releaseOutput(): void {
    this.arena = null;
  }

  /**
   * The next call writes into the arena of an earlier result whose holder is done with it
   * (e.g. handed back by another thread): its rows, itemEmbedding and itemBias buffers, as
   * returned (views over whole buffers). Buffers that do not fit `dim` are dropped (a fresh arena).
   */
  reuseOutput(dim: number, rows: ArrayBufferLike, itemEmbedding: ArrayBufferLike, itemBias: ArrayBufferLike): void {
    const cap = rows.byteLength >> 2;
    if (itemEmbedding.byteLength < cap * dim * 4 || itemBias.byteLength < cap * 4) {
      this.arena = null;
      return;
    }
    this.arena = Arena.over(dim, new Int32Array(rows), new Float32Array(itemEmbedding, 0, cap * dim), new Float32Array(itemBias, 0, cap), this.opts.shared === true);
  }

  /** The output arena for `dim`, emptied, with room for at least `capacity` rows. */
  output(dim: number, capacity: number): Arena {
    if (!this.arena || this.arena.dim !== dim) this.arena = new Arena(dim, capacity, this.opts.shared === true);
    this.arena.used = 0;
    this.arena.reserve(capacity);
    return this.arena;
  }

  /** This thread's wasm kernel instance (compiled on first use). */
  wasm(): MfWasmKernel {
    return (this.wasmKernel ??= MfWasmKernel.create());
  }

  /** Per item: slot in the current client's working set, or −1. */
  slotOf = new Int32Array(0);
  /** Per item: the stamp of the last client whose history holds it. */
  seenStamp = new Uint32Array(0);
  stamp = 0;
  /** Per slot: occurrences in the current step, and the gradient buffers for repeated rows. */
  count = new Int32Array(0);
  gradV = new Float64Array(0);
  gradB = new Float64Array(0);
  /** epochs × len shuffled positives and their negatives, as item ids then slots. */
  positives = new Int32Array(0);
  negatives = new Int32Array(0);
  rowList = new Int32Array(0);
  gradU = new Float64Array(0);
  user = new Float32Array(0);
  /** One micro-batch's slots (positives, then negatives) and their logits. */
  batchSlots = new Int32Array(0);
  scores = new Float64Array(0);

  ensureItems(numItems: number): void {
    if (this.numItems === numItems) return;
    this.numItems = numItems;
    this.slotOf = new Int32Array(numItems).fill(-1);
    this.seenStamp = new Uint32Array(numItems);
    this.stamp = 0;
  }

  ensureClient(dim: number, positives: number, negatives: number, rows: number, batchRows: number): void {
    if (this.batchSlots.length < batchRows) {
      this.batchSlots = new Int32Array(batchRows);
      this.scores = new Float64Array(batchRows);
    }
    if (this.positives.length < positives) this.positives = new Int32Array(positives);
    if (this.negatives.length < negatives) this.negatives = new Int32Array(negatives);
    if (this.rowList.length < rows) this.rowList = new Int32Array(rows);
    if (this.count.length < rows) {
      this.count = new Int32Array(rows);
      this.gradB = new Float64Array(rows);
      this.gradV = new Float64Array(rows * dim);
    }
    if (this.gradU.length < dim) {
      this.gradU = new Float64Array(dim);
      this.user = new Float32Array(dim);
    }
  }
}

/** A growable output arena: rows, Δ rows and biases appended client after client. */
class Arena {
  rows: Int32Array;
  emb: Float32Array;
  bias: Float32Array;
  used = 0;
  constructor(readonly dim: number, capacity: number, private readonly shared: boolean) {
    this.rows = new Int32Array(this.buffer(capacity * 4));
    this.emb = new Float32Array(this.buffer(capacity * dim * 4));
    this.bias = new Float32Array(this.buffer(capacity * 4));
  }
  /** An arena over existing arrays (rows.length rows of capacity). */
  static over(dim: number, rows: Int32Array, emb: Float32Array, bias: Float32Array, shared: boolean): Arena {
    const a = new Arena(dim, 0, shared);
    a.rows = rows;
    a.emb = emb;
    a.bias = bias;
    return a;
  }
  private buffer(bytes: number): ArrayBuffer | SharedArrayBuffer {
    return this.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  }
  reserve(extra: number): void {
    const need = this.used + extra;
    if (need <= this.rows.length) return;
    const cap = Math.max(need, this.rows.length * 2);
    const rows = new Int32Array(this.buffer(cap * 4));
    rows.set(this.rows.subarray(0, this.used));
    const emb = new Float32Array(this.buffer(cap * this.dim * 4));
    emb.set(this.emb.subarray(0, this.used * this.dim));
    const bias = new Float32Array(this.buffer(cap * 4));
    bias.set(this.bias.subarray(0, this.used));
    this.rows = rows;
    this.emb = emb;
    this.bias = bias;
  }
}

/**
 * Trains `clients` (user ids into `tables`, with their training seeds) one after another
 * and returns their clipped Δs (views into the scratch's arena: valid until the next call
 * on `scratch`); each client's user vector in tables.users is replaced by
 * its trained one. Equals, per client, trainMfLocally(...) then clipRowSparseToL2(Δ, C).
 */
export function trainMfClients(
  tables: MfFleetTables,
  clients: ArrayLike<number>,
  seeds: ArrayLike<number>,
  opts: MfFusedOptions,
  scratch: MfFusedScratch = new MfFusedScratch(),
): MfClientsResult {
  const { numItems, dim } = tables;
  const tc = opts.train;
  const epochs = tc.localEpochs;
  const n = clients.length;
  scratch.ensureItems(numItems);
  // First guess: every client touches min(numItems, one epoch's rows) / 2; the arena doubles if needed.
  let guess = 0;
  for (let c = 0; c < n; c++) {
    const len = tables.historyOffsets[clients[c] + 1] - tables.historyOffsets[clients[c]];
    guess += Math.min(numItems, len * (1 + tc.negatives));
  }
  const arena = scratch.output(dim, Math.max(16, guess >> 1));
  const rowOffsets = new Int32Array(n + 1);
  const numExamples = new Int32Array(n);
  const loss = new Float64Array(n);
  const preClipNorm = new Float64Array(n);
  const clipped = new Uint8Array(n);
  if (opts.kernel === 'wasm') {
    const wasm = scratch.wasm();
    let maxLen = 0;
    for (let c = 0; c < n; c++) maxLen = Math.max(maxLen, tables.historyOffsets[clients[c] + 1] - tables.historyOffsets[clients[c]]);
    wasm.prepare(numItems, dim, tables.itemEmbedding, tables.itemBias, maxLen, tc);
    const wantLoss = opts.computeLoss !== false;
    for (let c = 0; c < n; c++) {
      const u = clients[c];
      const hist = tables.historyItems.subarray(tables.historyOffsets[u], tables.historyOffsets[u + 1]);
      arena.reserve(Math.min(numItems, epochs * hist.length * (1 + tc.negatives)));
      const r = wasm.trainClient(hist, tables.users.subarray(u * dim, u * dim + dim), seeds[c], opts.clipNorm, wantLoss, arena.rows, arena.emb, arena.bias, arena.used);
      if (!Number.isFinite(r.preClipNorm)) throw new FlockError('non-finite', `cannot clip an update whose L2 norm is ${r.preClipNorm}`);
      arena.used += r.rows;
      numExamples[c] = hist.length;
      loss[c] = r.loss;
      preClipNorm[c] = r.preClipNorm;
      clipped[c] = r.clipped ? 1 : 0;
      rowOffsets[c + 1] = arena.used;
    }
  } else for (let c = 0; c < n; c++) {
    const u = clients[c];
    const hist = tables.historyItems.subarray(tables.historyOffsets[u], tables.historyOffsets[u + 1]);
    const maxRows = Math.min(numItems, epochs * hist.length * (1 + tc.negatives));
    arena.reserve(maxRows);
    const r = trainOneClient(tables, hist, u, seeds[c] >>> 0, opts, scratch, arena);
    numExamples[c] = r.numExamples;
    loss[c] = r.loss;
    preClipNorm[c] = r.preClipNorm;
    clipped[c] = r.clipped ? 1 : 0;
    rowOffsets[c + 1] = arena.used;
  }
  return {
    rowOffsets,
    rows: arena.rows.subarray(0, arena.used),
    itemEmbedding: arena.emb.subarray(0, arena.used * dim),
    itemBias: arena.bias.subarray(0, arena.used),
    numExamples,
    loss,
    preClipNorm,
    clipped,
  };
}

/**
 * One client, as small phase functions (each is optimized on its own: one large function
 * gets on-stack-replaced in its hottest loop and then deoptimizes in every cold one).
 */
function trainOneClient(
  tables: MfFleetTables,
  hist: Int32Array,
  userId: number,
  seed: number,
  opts: MfFusedOptions,
  s: MfFusedScratch,
  arena: Arena,
): { numExamples: number; loss: number; preClipNorm: number; clipped: boolean } {
  const { numItems, dim } = tables;
  const tc = opts.train;
  const epochs = tc.localEpochs;
  const batchSize = tc.batchSize;
  const negPer = tc.negatives;
  const len = hist.length;
  s.ensureClient(dim, epochs * len, epochs * len * negPer, Math.min(numItems, epochs * len * (1 + negPer)), batchSize * (1 + negPer));
  replayBatches(hist, numItems, epochs, batchSize, negPer, seed, s);
  const off = arena.used;
  const W = gatherWorkingSet(tables, epochs * len, epochs * len * negPer, s, arena);
  const items = arena.emb.subarray(off * dim, (off + W) * dim);
  const bias = arena.bias.subarray(off, off + W);
  const rows = arena.rows.subarray(off, off + W);

  const user = s.user;
  const userRow = userId * dim;
  for (let d = 0; d < dim; d++) user[d] = tables.users[userRow + d];
  const accumulate = Math.max(1, Math.floor(tc.accumulationSteps ?? 1));
  const wantLoss = opts.computeLoss !== false;
  const numBatches = Math.ceil(len / batchSize);
  let lastEpochLoss = wantLoss ? 0 : NaN;
  for (let e = 0; e < epochs; e++) {
    const lossHere = wantLoss && e === epochs - 1;
    let sum = 0;
    for (let g = 0; g < numBatches; g += accumulate) {
      sum = sgdStep(items, bias, user, s, dim, tc, e * len, len, g, Math.min(numBatches, g + accumulate), lossHere, sum);
    }
    if (lossHere && numBatches > 0) lastEpochLoss = sum / numBatches;
  }
  for (let d = 0; d < dim; d++) tables.users[userRow + d] = user[d];

  const preClipNorm = Math.sqrt(deltaInPlace(items, bias, rows, tables.itemEmbedding, tables.itemBias, dim));
  if (!Number.isFinite(preClipNorm)) throw new FlockError('non-finite', `cannot clip an update whose L2 norm is ${preClipNorm}`);
  const clipped = preClipNorm > opts.clipNorm;
  if (clipped) {
    scaleInPlace(items, opts.clipNorm / preClipNorm);
    scaleInPlace(bias, opts.clipNorm / preClipNorm);
  }
  arena.used = off + W;
  return { numExamples: len, loss: lastEpochLoss, preClipNorm, clipped };
}

/**
 * makeBatches' draws for every epoch, into s.positives (epochs × len, each epoch a
 * Fisher–Yates shuffle of the history) and s.negatives (× negPer, per batch, rejecting
 * history items up to 100 times while some item is outside the history).
 */
function replayBatches(hist: Int32Array, numItems: number, epochs: number, batchSize: number, negPer: number, seed: number, s: MfFusedScratch): void {
  const { seenStamp, positives, negatives } = s;
  const len = hist.length;
  let mark = (s.stamp = (s.stamp + 1) >>> 0);
  if (mark === 0) {
    seenStamp.fill(0);
    mark = s.stamp = 1;
  }
  let distinctSeen = 0;
  for (let j = 0; j < len; j++) {
    const i = hist[j];
    if (seenStamp[i] !== mark) {
      seenStamp[i] = mark;
      distinctSeen++;
    }
  }
  const canReject = distinctSeen < numItems;
  const rng = new SeededRandom(seed);
  for (let e = 0; e < epochs; e++) {
    const base = e * len;
    positives.set(hist, base);
    for (let i = len - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = positives[base + i];
      positives[base + i] = positives[base + j];
      positives[base + j] = t;
    }
    for (let start = 0; start < len; start += batchSize) {
      const end = (base + Math.min(len, start + batchSize)) * negPer;
      for (let q = (base + start) * negPer; q < end; q++) {
        let item = rng.int(numItems);
        for (let tries = 0; canReject && seenStamp[item] === mark && tries < 100; tries++) item = rng.int(numItems);
        negatives[q] = item;
      }
    }
  }
}

/**
 * The working set: the distinct rows of s.positives/s.negatives ascending, appended to the
 * arena with their global values gathered; positives/negatives are rewritten as slots.
 * Returns the number of rows W.
 */
function gatherWorkingSet(tables: MfFleetTables, totalPos: number, totalNeg: number, s: MfFusedScratch, arena: Arena): number {
  const { slotOf, positives, negatives, rowList } = s;
  const dim = tables.dim;
  let W = 0;
  for (let k = 0; k < totalPos; k++) {
    const i = positives[k];
    if (slotOf[i] < 0) {
      slotOf[i] = 0;
      rowList[W++] = i;
    }
  }
  for (let k = 0; k < totalNeg; k++) {
    const i = negatives[k];
    if (slotOf[i] < 0) {
      slotOf[i] = 0;
      rowList[W++] = i;
    }
  }
  const rows = rowList.subarray(0, W).sort();
  const off = arena.used;
  const outRows = arena.rows;
  const items = arena.emb;
  const bias = arena.bias;
  const gEmb = tables.itemEmbedding;
  const gBias = tables.itemBias;
  for (let r = 0; r < W; r++) {
    const i = rows[r];
    slotOf[i] = r;
    outRows[off + r] = i;
    bias[off + r] = gBias[i];
    const src = i * dim;
    const dst = (off + r) * dim;
    for (let d = 0; d < dim; d++) items[dst + d] = gEmb[src + d];
  }
  for (let k = 0; k < totalPos; k++) positives[k] = slotOf[positives[k]];
  for (let k = 0; k < totalNeg; k++) negatives[k] = slotOf[negatives[k]];
  for (let r = 0; r < W; r++) slotOf[rows[r]] = -1;
  return W;
}

/**
 * One SGD step over micro-batches [g, gEnd) of the epoch starting at ebase: every
 * gradient at the pre-step parameters, a row occurring once applied in the same pass, the
 * rest buffered and applied after it, then the user vector. Returns lossSum plus each
 * micro-batch's loss in turn (trainMfLocally's summation order; lossSum unless lossHere).
 */
function sgdStep(
  items: Float32Array,
  bias: Float32Array,
  user: Float32Array,
  s: MfFusedScratch,
  dim: number,
  tc: TrainConfig,
  ebase: number,
  len: number,
  g: number,
  gEnd: number,
  lossHere: boolean,
  lossSum: number,
): number {
  const { count, gradV, gradB, gradU, positives, negatives } = s;
  const batchSize = tc.batchSize;
  const negPer = tc.negatives;
  const lr = tc.learningRate;
  const l2 = tc.l2;
  const divisor = gEnd - g;
  // Occurrences of each slot in this step (positives and negatives of its micro-batches).
  const p0 = ebase + g * batchSize;
  const p1 = ebase + Math.min(len, gEnd * batchSize);
  for (let k = p0; k < p1; k++) count[positives[k]]++;
  for (let k = p0 * negPer; k < p1 * negPer; k++) count[negatives[k]]++;
  const deferAll = divisor > 1;
  let sum = lossSum;
  for (let d = 0; d < dim; d++) gradU[d] = 0;
  for (let mb = g; mb < gEnd; mb++) {
    const b0 = ebase + mb * batchSize;
    const nPos = Math.min(batchSize, ebase + len - b0);
    const nRows = nPos * (1 + negPer);
    const regScale = (2 * l2) / nPos;
    const c2 = 2 * l2;
    for (let d = 0; d < dim; d++) gradU[d] += c2 * user[d];
    // Pass 1: every row's logit at the pre-step parameters (four rows at a time: independent
    // float64 chains, each summed in trainMfLocally's order), and ‖v‖² when the loss is kept.
    const bSlots = s.batchSlots;
    for (let k = 0; k < nPos; k++) bSlots[k] = positives[b0 + k];
    for (let k = nPos; k < nRows; k++) bSlots[k] = negatives[b0 * negPer + (k - nPos)];
    const reg = lossHere ? scoreRowsWithNorms(items, bias, user, bSlots, nRows, dim, s.scores) : scoreRows(items, bias, user, bSlots, nRows, dim, s.scores);
    // Pass 2: σ and ∂L/∂s of every row (in place of its logit), and the loss terms.
    const grads = s.scores;
    let data = 0;
    for (let k = 0; k < nRows; k++) {
      const isPos = k < nPos;
      const sc = grads[k];
      const ex = Math.exp(-sc);
      const sig = 1 / (1 + ex);
      grads[k] = isPos ? (sig - 1) / nPos : sig / nPos;
      if (lossHere) data += isPos ? softplusNeg(sc, ex) : softplusPos(sc, ex);
    }
    // Pass 3, in row order (∂L/∂u sums in trainMfLocally's order): a row that occurs once
    // in the step is updated now (two such rows at a time share the loads of u and ∂L/∂u);
    // a repeated one is buffered and applied after the step.
    for (let k = 0; k < nRows; k++) {
      const slot = bSlots[k];
      const gs = grads[k];
      if (deferAll || count[slot] > 1) {
        gradB[slot] += gs;
        bufferRow(items, slot * dim, user, gradU, gradV, dim, gs, regScale);
        continue;
      }
      bias[slot] -= lr * gs;
      const next = k + 1 < nRows ? bSlots[k + 1] : -1;
      if (next >= 0 && count[next] === 1) {
        const gs1 = grads[k + 1];
        bias[next] -= lr * gs1;
        stepTwoRows(items, slot * dim, next * dim, user, gradU, dim, gs, gs1, lr, regScale);
        k++;
      } else stepRow(items, slot * dim, user, gradU, dim, gs, lr, regScale);
    }
    if (lossHere) {
      let uu = 0;
      for (let d = 0; d < dim; d++) uu += user[d] * user[d];
      sum += data / nPos + l2 * (reg / nPos + uu);
    }
  }
  // Apply the buffered rows (and clear what this step touched), then the user vector.
  for (let k = p0; k < p1; k++) flushSlot(positives[k], dim, lr, divisor, count, gradV, gradB, items, bias, deferAll);
  for (let k = p0 * negPer; k < p1 * negPer; k++) flushSlot(negatives[k], dim, lr, divisor, count, gradV, gradB, items, bias, deferAll);
  for (let d = 0; d < dim; d++) user[d] -= lr * (gradU[d] / divisor);
  return sum;
}

/** softplus(−s) as trainMfLocally's softplus, reusing ex = exp(−s) where that formula uses it. */
function softplusNeg(sc: number, ex: number): number {
  return sc >= 0 ? Math.log1p(ex) : -sc + Math.log1p(Math.exp(sc));
}

/** softplus(s) as trainMfLocally's softplus, reusing ex = exp(−s) where that formula uses it. */
function softplusPos(sc: number, ex: number): number {
  return sc > 0 ? sc + Math.log1p(ex) : Math.log1p(Math.exp(sc));
}

/**
 * Δ = w_local − w_global of the working set in place, rounded to float32 (as globalDelta),
 * returning the float64 sum of squares in clipRowSparseToL2's order (embedding, then bias).
 */
function deltaInPlace(items: Float32Array, bias: Float32Array, rows: Int32Array, gEmb: Float32Array, gBias: Float32Array, dim: number): number {
  let sumSq = 0;
  const W = rows.length;
  for (let r = 0; r < W; r++) {
    const src = rows[r] * dim;
    const dst = r * dim;
    for (let d = 0; d < dim; d++) {
      const x = Math.fround(items[dst + d] - gEmb[src + d]);
      items[dst + d] = x;
      sumSq += x * x;
    }
  }
  for (let r = 0; r < W; r++) {
    const x = Math.fround(bias[r] - gBias[rows[r]]);
    bias[r] = x;
    sumSq += x * x;
  }
  return sumSq;
}

function scaleInPlace(a: Float32Array, scale: number): void {
  for (let x = 0; x < a.length; x++) a[x] = a[x] * scale;
}

/**
 * scores[k] = fround(b + Σ_d v_d·u_d) of each listed slot, the sum taken from b in order
 * d = 0, 1, … (trainMfLocally's), four rows interleaved so their chains overlap.
 */
function scoreRows(items: Float32Array, bias: Float32Array, user: Float32Array, slots: Int32Array, n: number, dim: number, scores: Float64Array): number {
  let k = 0;
  for (; k + 3 < n; k += 4) {
    const r0 = slots[k] * dim;
    const r1 = slots[k + 1] * dim;
    const r2 = slots[k + 2] * dim;
    const r3 = slots[k + 3] * dim;
    let s0 = bias[slots[k]];
    let s1 = bias[slots[k + 1]];
    let s2 = bias[slots[k + 2]];
    let s3 = bias[slots[k + 3]];
    for (let d = 0; d < dim; d++) {
      const u = user[d];
      s0 += items[r0 + d] * u;
      s1 += items[r1 + d] * u;
      s2 += items[r2 + d] * u;
      s3 += items[r3 + d] * u;
    }
    scores[k] = Math.fround(s0);
    scores[k + 1] = Math.fround(s1);
    scores[k + 2] = Math.fround(s2);
    scores[k + 3] = Math.fround(s3);
  }
  for (; k < n; k++) scores[k] = Math.fround(dotRow(items, slots[k] * dim, user, dim, bias[slots[k]]));
  return 0;
}

/** scoreRows, and returns Σ_k ‖v_k‖² (each row's ‖v‖² summed in order d, rows added in order k: trainMfLocally's reg). */
function scoreRowsWithNorms(items: Float32Array, bias: Float32Array, user: Float32Array, slots: Int32Array, n: number, dim: number, scores: Float64Array): number {
  let reg = 0;
  let k = 0;
  for (; k + 1 < n; k += 2) {
    const r0 = slots[k] * dim;
    const r1 = slots[k + 1] * dim;
    let s0 = bias[slots[k]];
    let s1 = bias[slots[k + 1]];
    let q0 = 0;
    let q1 = 0;
    for (let d = 0; d < dim; d++) {
      const u = user[d];
      const v0 = items[r0 + d];
      const v1 = items[r1 + d];
      s0 += v0 * u;
      s1 += v1 * u;
      q0 += v0 * v0;
      q1 += v1 * v1;
    }
    scores[k] = Math.fround(s0);
    scores[k + 1] = Math.fround(s1);
    reg += q0;
    reg += q1;
  }
  for (; k < n; k++) {
    scores[k] = Math.fround(dotRow(items, slots[k] * dim, user, dim, bias[slots[k]]));
    reg += sqRow(items, slots[k] * dim, dim);
  }
  return reg;
}

/** b + Σ_d v_d·u_d of one row, in float64, summed from b in order d = 0, 1, … (as trainMfLocally). */
function dotRow(items: Float32Array, row: number, user: Float32Array, dim: number, b: number): number {
  let sc = b;
  for (let d = 0; d < dim; d++) sc += items[row + d] * user[d];
  return sc;
}

function sqRow(items: Float32Array, row: number, dim: number): number {
  let sq = 0;
  for (let d = 0; d < dim; d++) sq += items[row + d] * items[row + d];
  return sq;
}

/** The fused update of a row that occurs once in its step: ∂L/∂u += g·v, then v ← v − lr·(g·u + regScale·v). */
function stepRow(items: Float32Array, row: number, user: Float32Array, gradU: Float64Array, dim: number, gs: number, lr: number, regScale: number): void {
  for (let d = 0; d < dim; d++) {
    const v = items[row + d];
    gradU[d] += gs * v;
    items[row + d] = v - lr * (gs * user[d] + regScale * v);
  }
}

/** stepRow of two different rows, row0's terms first (the same sums in the same order). */
function stepTwoRows(items: Float32Array, row0: number, row1: number, user: Float32Array, gradU: Float64Array, dim: number, gs0: number, gs1: number, lr: number, regScale: number): void {
  for (let d = 0; d < dim; d++) {
    const v0 = items[row0 + d];
    const v1 = items[row1 + d];
    const u = user[d];
    let gu = gradU[d];
    gu += gs0 * v0;
    gu += gs1 * v1;
    gradU[d] = gu;
    items[row0 + d] = v0 - lr * (gs0 * u + regScale * v0);
    items[row1 + d] = v1 - lr * (gs1 * u + regScale * v1);
  }
}

/** A repeated row's contribution, kept for after the step (trainMfLocally's gradV). */
function bufferRow(items: Float32Array, row: number, user: Float32Array, gradU: Float64Array, gradV: Float64Array, dim: number, gs: number, regScale: number): void {
  for (let d = 0; d < dim; d++) {
    const v = items[row + d];
    gradU[d] += gs * v;
    gradV[row + d] += gs * user[d] + regScale * v;
  }
}

/** Applies a buffered (repeated or accumulated) slot once, as trainMfLocally's mfApplyGradients, and clears it. */
function flushSlot(
  slot: number,
  dim: number,
  lr: number,
  divisor: number,
  count: Int32Array,
  gradV: Float64Array,
  gradB: Float64Array,
  items: Float32Array,
  bias: Float32Array,
  deferAll: boolean,
): void {
  const c = count[slot];
  if (c === 0) return;
  count[slot] = 0;
  if (!deferAll && c === 1) return;
  bias[slot] -= lr * (gradB[slot] / divisor);
  gradB[slot] = 0;
  const row = slot * dim;
  for (let d = 0; d < dim; d++) {
    items[row + d] -= lr * (gradV[row + d] / divisor);
    gradV[row + d] = 0;
  }
}
