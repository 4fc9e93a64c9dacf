/**
 * The streaming weighted mean's float64 sums and row weights in a WebAssembly memory, and
 * its fold run there (shared/kernels/weighted-fold.ts, built by `npm run build:kernels`):
 * each update is copied into a scratch region (a memcpy) and folded two lanes at a time.
 * Bit-identical to the JS fold in streaming-weighted-mean.ts (same float64 operations in
 * the same order; unit test), and faster than it per value, the copy included.
 *
 * One instance per StreamingWeightedMean, sized once (the sums, the row weights and room
 * for one whole update), so the Float64Array views it hands out stay valid. The module is
 * compiled once per thread; it is small enough (< 4 KB) to compile synchronously anywhere.
 */
import { compiledKernel, growToHold, MemoryLayout } from '../kernels/wasm-memory-layout.ts';
import { WEIGHTED_FOLD_WASM_BASE64 } from '../kernels/weighted-fold-wasm.ts';

interface FoldExports {
  readonly memory: WebAssembly.Memory;
  foldRows(sum: number, rw: number, rows: number, data: number, count: number, width: number, w: number): void;
  foldDense(sum: number, rw: number, data: number, numRows: number, width: number, w: number): void;
  foldRowsScaled(sum: number, rw: number, rows: number, data: number, count: number, width: number, w: number, c: number): void;
  foldDenseScaled(sum: number, rw: number, data: number, numRows: number, width: number, w: number, c: number): void;
}

/** Sums beyond this are kept in JS arrays (wasm32 memory tops out at 4 GiB). */
const MAX_BYTES = 2 ** 30;

/** Byte offsets of the sums, the row weights (0 where rows are not normalised: the kernel's "none") and one update's scratch. */
interface Layout {
  readonly sumAt: readonly number[];
  readonly rowWeightAt: readonly number[];
  readonly rowsAt: number;
  readonly dataAt: number;
  readonly end: number;
}

function layOut(sizes: readonly number[], rowWeightRows: readonly (number | null)[]): Layout {
  const m = new MemoryLayout(16);
  const largest = Math.max(...sizes);
  const sumAt = sizes.map((n) => m.take(n * 8));
  const rowWeightAt = rowWeightRows.map((rows) => (rows === null ? 0 : m.take(rows * 8)));
  const rowsAt = m.take(largest * 4);
  const dataAt = m.take(largest * 4);
  return { sumAt, rowWeightAt, rowsAt, dataAt, end: m.end };
}

export class WeightedFoldKernel {
  /** Per parameter: its float64 sums, and its row weights (null where rows are not normalised). Live views into the kernel's memory. */
  readonly sums: Float64Array[];
  readonly rowWeights: (Float64Array | null)[];
  private readonly i32: Int32Array;
  private readonly f32: Float32Array;

  private constructor(
    private readonly x: FoldExports,
    private readonly layout: Layout,
    sizes: readonly number[],
    rowWeightRows: readonly (number | null)[],
  ) {
    growToHold(x.memory, layout.end);
    const b = x.memory.buffer;
    this.sums = sizes.map((n, pi) => new Float64Array(b, layout.sumAt[pi], n));
    this.rowWeights = rowWeightRows.map((rows, pi) => (rows === null ? null : new Float64Array(b, layout.rowWeightAt[pi], rows)));
    this.i32 = new Int32Array(b);
    this.f32 = new Float32Array(b);
  }

  /** A kernel with zeroed sums for parameters of these sizes, or null where WebAssembly SIMD is missing or they would not fit (the caller keeps JS arrays). */
  static create(sizes: readonly number[], rowWeightRows: readonly (number | null)[]): WeightedFoldKernel | null {
    const module = compiledKernel(WEIGHTED_FOLD_WASM_BASE64);
    if (!module || sizes.length === 0) return null;
    const layout = layOut(sizes, rowWeightRows);
    if (layout.end > MAX_BYTES) return null;
    return new WeightedFoldKernel(new WebAssembly.Instance(module, {}).exports as unknown as FoldExports, layout, sizes, rowWeightRows);
  }

  /** sums[pi][row] += w·fround(c·data_i) for the listed rows (width values each; c = 1: data as is), and the row weights, as the JS foldRows / foldRowsScaled. */
  foldRows(pi: number, width: number, rows: Int32Array, data: Float32Array, w: number, c: number): void {
    const { sumAt, rowWeightAt, rowsAt, dataAt } = this.layout;
    this.i32.set(rows, rowsAt >> 2);
    this.f32.set(data, dataAt >> 2);
    if (c === 1) this.x.foldRows(sumAt[pi], rowWeightAt[pi], rowsAt, dataAt, rows.length, width, w);
    else this.x.foldRowsScaled(sumAt[pi], rowWeightAt[pi], rowsAt, dataAt, rows.length, width, w, c);
  }

  /** sums[pi] += w·fround(c·data) for a dense tensor (numRows × width; c = 1: data as is), and the row weights, as the JS dense folds. */
  foldDense(pi: number, numRows: number, width: number, data: Float32Array, w: number, c: number): void {
    const { sumAt, rowWeightAt, dataAt } = this.layout;
    this.f32.set(data, dataAt >> 2);
    if (c === 1) this.x.foldDense(sumAt[pi], rowWeightAt[pi], dataAt, numRows, width, w);
    else this.x.foldDenseScaled(sumAt[pi], rowWeightAt[pi], dataAt, numRows, width, w, c);
  }
}
