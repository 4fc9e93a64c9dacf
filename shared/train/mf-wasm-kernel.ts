/**
 * The WebAssembly SIMD MF client step (shared/kernels/mf-client-step.ts, built by
 * `npm run build:kernels`) behind a typed-array interface: one instance per thread owns
 * its linear memory, lays out the regions a call needs (globals, scratch, one client's
 * output) and copies in and out only what the client touches: its history, its user
 * vector, and its W working-set rows. trainMfClients (mf-fused-training.ts) calls it per
 * client with `kernel: 'wasm'`.
 *
 * Isomorphic: the binary is a base64 constant (no fetch, no fs). Node and worker threads
 * compile it synchronously (MfWasmKernel.create); a browser main thread, where
 * synchronous compilation of modules over 4 KB is refused, uses MfWasmKernel.load().
 */
import { FlockError } from '../errors.ts';
import { MF_CLIENT_STEP_WASM_BASE64 } from '../kernels/mf-client-step-wasm.ts';
import { growToHold, kernelBytes, MemoryLayout } from '../kernels/wasm-memory-layout.ts';
import type { TrainConfig } from '../model/recommender-model.ts';

interface KernelExports {
  readonly memory: WebAssembly.Memory;
  configure(
    numItems: number, dim: number, gEmb: number, gBias: number, slotOf: number, seenStamp: number, positives: number, negatives: number,
    count: number, gradV: number, gradB: number, gradU: number, batchSlots: number, scores: number,
    epochs: number, batchSize: number, negativesPerPositive: number, accumulate: number, lr: number, l2: number,
  ): void;
  resetItems(): void;
  heapBase(): number;
  trainClient(hist: number, len: number, user: number, seed: number, clipNorm: number, wantLoss: number, outRows: number, outEmb: number, outBias: number): number;
  loss(): number;
  preClipNorm(): number;
  clipped(): number;
}

/** One client's result; its rows, Δ rows and Δ biases were written where trainClient was told. */
export interface MfWasmClientResult {
  readonly rows: number;
  readonly loss: number;
  readonly preClipNorm: number;
  readonly clipped: boolean;
}

let compiled: WebAssembly.Module | null = null;
const binary = (): Uint8Array<ArrayBuffer> => kernelBytes(MF_CLIENT_STEP_WASM_BASE64);

/** Whether this runtime has WebAssembly with SIMD (validates a one-instruction SIMD module). */
export function wasmSimdAvailable(): boolean {
  if (typeof WebAssembly !== 'object') return false;
  // (module (func (result v128) v128.const i32x4 0 0 0 0))
  const probe = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);
  try {
    return WebAssembly.validate(probe);
  } catch {
    return false;
  }
}

/** The byte offsets of every region, for one capacity (items, dim, the longest history of a call, the train config). */
interface Layout {
  readonly numItems: number;
  readonly dim: number;
  readonly maxLen: number;
  readonly epochs: number;
  readonly negPer: number;
  readonly batchSize: number;
  readonly gEmb: number;
  readonly gBias: number;
  readonly slotOf: number;
  readonly seenStamp: number;
  readonly hist: number;
  readonly user: number;
  readonly gradU: number;
  readonly positives: number;
  readonly negatives: number;
  readonly count: number;
  readonly gradV: number;
  readonly gradB: number;
  readonly batchSlots: number;
  readonly scores: number;
  readonly outRows: number;
  readonly outEmb: number;
  readonly outBias: number;
  /** Where the scratch that must start zeroed begins, and the end of everything. */
  readonly scratchStart: number;
  readonly end: number;
}

function layoutFor(base: number, numItems: number, dim: number, maxLen: number, tc: TrainConfig): Layout {
  const epochs = tc.localEpochs;
  const negPer = tc.negatives;
  const maxRows = Math.min(numItems, epochs * maxLen * (1 + negPer));
  const batchRows = tc.batchSize * (1 + negPer);
  const m = new MemoryLayout(base); // after the kernel's static data
  const gEmb = m.take(numItems * dim * 4);
  const gBias = m.take(numItems * 4);
  const scratchStart = m.end;
  const slotOf = m.take(numItems * 4);
  const seenStamp = m.take(numItems * 4);
  const hist = m.take(maxLen * 4);
  const user = m.take(dim * 4);
  const gradU = m.take(dim * 4);
  const positives = m.take(epochs * maxLen * 4);
  const negatives = m.take(epochs * maxLen * negPer * 4);
  const count = m.take(maxRows * 4);
  const gradV = m.take(maxRows * dim * 4);
  const gradB = m.take(maxRows * 4);
  const batchSlots = m.take(batchRows * 4);
  const scores = m.take(batchRows * 4);
  const outRows = m.take(maxRows * 4);
  const outEmb = m.take(maxRows * dim * 4);
  const outBias = m.take(maxRows * 4);
  return {
    numItems, dim, maxLen, epochs, negPer, batchSize: tc.batchSize,
    gEmb, gBias, slotOf, seenStamp, hist, user, gradU, positives, negatives, count, gradV, gradB, batchSlots, scores, outRows, outEmb, outBias,
    scratchStart, end: m.end,
  };
}

export class MfWasmKernel {
  private layout: Layout | null = null;
  private buffer: ArrayBuffer | null = null;
  private f32 = new Float32Array(0);
  private i32 = new Int32Array(0);

  private constructor(private readonly x: KernelExports) {}

  /** Compiles (once per thread) and instantiates synchronously: Node, worker threads, browser workers. */
  static create(): MfWasmKernel {
    if (!wasmSimdAvailable()) throw new FlockError('bad-config', 'the wasm MF kernel needs WebAssembly SIMD, which this runtime lacks');
    compiled ??= new WebAssembly.Module(binary());
    return new MfWasmKernel(new WebAssembly.Instance(compiled, {}).exports as unknown as KernelExports);
  }

  /** Compiles and instantiates asynchronously (a browser's main thread). */
  static async load(): Promise<MfWasmKernel> {
    if (!wasmSimdAvailable()) throw new FlockError('bad-config', 'the wasm MF kernel needs WebAssembly SIMD, which this runtime lacks');
    compiled ??= await WebAssembly.compile(binary());
    return new MfWasmKernel((await WebAssembly.instantiate(compiled, {})).exports as unknown as KernelExports);
  }

  /** The kernel runs 4 float32 lanes per row: dim must be a positive multiple of 4. */
  static supportsDim(dim: number): boolean {
    return Number.isInteger(dim) && dim > 0 && dim % 4 === 0;
  }

  /**
   * Before a call's clients: room for histories up to maxLen, the train config, and the
   * current global tables copied in (they change between rounds).
   */
  prepare(numItems: number, dim: number, itemEmbedding: Float32Array, itemBias: Float32Array, maxLen: number, tc: TrainConfig): void {
    if (!MfWasmKernel.supportsDim(dim)) throw new FlockError('bad-config', `the wasm MF kernel needs dim to be a positive multiple of 4, got ${dim}`);
    let l = this.layout;
    if (!l || l.numItems !== numItems || l.dim !== dim || l.maxLen < maxLen || l.epochs !== tc.localEpochs || l.negPer !== tc.negatives || l.batchSize !== tc.batchSize) {
      // Headroom: the longest history rounded up to a power of two, so a run lays out a few times at most.
      const room = Math.max(l && l.numItems === numItems && l.dim === dim ? l.maxLen : 0, 2 ** Math.ceil(Math.log2(Math.max(16, maxLen))));
      l = layoutFor(this.x.heapBase(), numItems, dim, room, tc);
      growToHold(this.x.memory, l.end);
      this.views();
      new Uint8Array(this.x.memory.buffer, l.scratchStart, l.end - l.scratchStart).fill(0);
      this.layout = l;
      this.configure(tc);
      this.x.resetItems();
    } else this.configure(tc);
    this.views();
    this.f32.set(itemEmbedding.subarray(0, numItems * dim), l.gEmb >> 2);
    this.f32.set(itemBias.subarray(0, numItems), l.gBias >> 2);
  }

  private configure(tc: TrainConfig): void {
    const l = this.layout!;
    this.x.configure(
      l.numItems, l.dim, l.gEmb, l.gBias, l.slotOf, l.seenStamp, l.positives, l.negatives, l.count, l.gradV, l.gradB, l.gradU, l.batchSlots, l.scores,
      tc.localEpochs, tc.batchSize, tc.negatives, Math.max(1, Math.floor(tc.accumulationSteps ?? 1)), tc.learningRate, tc.l2,
    );
  }

  private views(): void {
    const b = this.x.memory.buffer;
    if (b === this.buffer) return;
    this.buffer = b;
    this.f32 = new Float32Array(b);
    this.i32 = new Int32Array(b);
  }

  /**
   * Trains one client (after prepare): `user` (dim values) is replaced by the trained
   * vector; its rows, clipped Δ rows and Δ biases go to outRows / outEmb / outBias from
   * index `at` (rows; × dim for outEmb).
   */
  trainClient(
    hist: Int32Array, user: Float32Array, seed: number, clipNorm: number, wantLoss: boolean,
    outRows: Int32Array, outEmb: Float32Array, outBias: Float32Array, at: number,
  ): MfWasmClientResult {
    const l = this.layout!;
    if (hist.length > l.maxLen) throw new FlockError('bad-config', `history of ${hist.length} items exceeds the prepared ${l.maxLen}`);
    const { f32, i32, x } = this;
    const dim = l.dim;
    i32.set(hist, l.hist >> 2);
    f32.set(user, l.user >> 2);
    const W = x.trainClient(l.hist, hist.length, l.user, seed >>> 0, clipNorm, wantLoss ? 1 : 0, l.outRows, l.outEmb, l.outBias);
    user.set(f32.subarray(l.user >> 2, (l.user >> 2) + dim));
    outRows.set(i32.subarray(l.outRows >> 2, (l.outRows >> 2) + W), at);
    outEmb.set(f32.subarray(l.outEmb >> 2, (l.outEmb >> 2) + W * dim), at * dim);
    outBias.set(f32.subarray(l.outBias >> 2, (l.outBias >> 2) + W), at);
    return { rows: W, loss: x.loss(), preClipNorm: x.preClipNorm(), clipped: x.clipped() !== 0 };
  }
}
