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

let compiled: WebAssembly.Module | null | undefined;

function compiledModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    compiled = new WebAssembly.Module(Uint8Array.from(atob(WEIGHTED_FOLD_WASM_BASE64), (c) => c.charCodeAt(0)));
  } catch {
    compiled = null; // no WebAssembly SIMD here
  }
  return compiled;
}

export class WeightedFoldKernel {
  /** Per parameter: its float64 sums, and its row weights (null where rows are not normalised). Live views into the kernel's memory. */
  readonly sums: Float64Array[];
  readonly rowWeights: (Float64Array | null)[];
  private readonly sumAt: number[];
  private readonly rowWeightAt: number[];
  private readonly rowsAt: number;
  private readonly dataAt: number;
  private readonly i32: Int32Array;
  private readonly f32: Float32Array;

  private constructor(
    private readonly x: FoldExports,
    sizes: readonly number[],
    rowWeightRows: readonly (number | null)[],
  ) {
    let at = 16;
    const take = (bytes: number) => {
      const p = at;
      at = (at + bytes + 15) & ~15;
      return p;
    };
    const largest = Math.max(...sizes);
    this.sumAt = sizes.map((n) => take(n * 8));
    this.rowWeightAt = rowWeightRows.map((rows) => (rows === null ? 0 : take(rows * 8)));
    this.rowsAt = take(largest * 4);
    this.dataAt = take(largest * 4);
    const mem = x.memory;
    const need = Math.ceil(at / 65536) - mem.buffer.byteLength / 65536;
    if (need > 0) mem.grow(need);
    const b = mem.buffer;
    this.sums = sizes.map((n, pi) => new Float64Array(b, this.sumAt[pi], n));
    this.rowWeights = rowWeightRows.map((rows, pi) => (rows === null ? null : new Float64Array(b, this.rowWeightAt[pi], rows)));
    this.i32 = new Int32Array(b);
    this.f32 = new Float32Array(b);
  }

  /** A kernel with zeroed sums for parameters of these sizes, or null where WebAssembly SIMD is missing or they would not fit (the caller keeps JS arrays). */
  static create(sizes: readonly number[], rowWeightRows: readonly (number | null)[]): WeightedFoldKernel | null {
    const module = compiledModule();
    if (!module || sizes.length === 0) return null;
    const bytes = sizes.reduce((a, n) => a + n * 8 + 16, 0) + rowWeightRows.reduce<number>((a, r) => a + (r ?? 0) * 8 + 16, 0) + Math.max(...sizes) * 8 + 64;
    if (bytes > MAX_BYTES) return null;
    return new WeightedFoldKernel(new WebAssembly.Instance(module, {}).exports as unknown as FoldExports, sizes, rowWeightRows);
  }

  /** sums[pi][row] += w·fround(c·data_i) for the listed rows (width values each; c = 1: data as is), and the row weights, as the JS foldRows / foldRowsScaled. */
  foldRows(pi: number, width: number, rows: Int32Array, data: Float32Array, w: number, c: number): void {
    this.i32.set(rows, this.rowsAt >> 2);
    this.f32.set(data, this.dataAt >> 2);
    if (c === 1) this.x.foldRows(this.sumAt[pi], this.rowWeightAt[pi], this.rowsAt, this.dataAt, rows.length, width, w);
    else this.x.foldRowsScaled(this.sumAt[pi], this.rowWeightAt[pi], this.rowsAt, this.dataAt, rows.length, width, w, c);
  }

  /** sums[pi] += w·fround(c·data) for a dense tensor (numRows × width; c = 1: data as is), and the row weights, as the JS dense folds. */
  foldDense(pi: number, numRows: number, width: number, data: Float32Array, w: number, c: number): void {
    this.f32.set(data, this.dataAt >> 2);
    if (c === 1) this.x.foldDense(this.sumAt[pi], this.rowWeightAt[pi], this.dataAt, numRows, width, w);
    else this.x.foldDenseScaled(this.sumAt[pi], this.rowWeightAt[pi], this.dataAt, numRows, width, w, c);
  }
}
