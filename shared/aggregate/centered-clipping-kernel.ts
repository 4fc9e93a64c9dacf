/**
 * Centered clipping's inner passes on WebAssembly (shared/kernels/centered-clipping-passes.ts,
 * built by `npm run build:kernels`): a round's stored updates are copied once into a fresh
 * linear memory next to float64 center, step and row-weight arrays, and every iteration's
 * distance and pull run there. Bit-identical to the JS passes in centered-clipping.ts
 * (same float64 operations in the same order; unit test), 2–4× faster per pass.
 *
 * One instance per thread, reused by every result() (a fresh memory each round cost more in
 * page faults than the copy itself): its memory stays at the largest round's size, and a
 * kernel is valid only until the next forUpdates (result() is synchronous, so one at a
 * time). The module is small enough (< 4 KB) to compile synchronously on any thread.
 */
import { CENTERED_CLIPPING_PASSES_WASM_BASE64 } from '../kernels/centered-clipping-passes-wasm.ts';
import type { RowSparseTensor } from '../update/row-sparse-clip.ts';
import type { IterationPasses } from './centered-clipping-passes.ts';
import type { StoredUpdate } from './stored-updates.ts';

interface PassExports {
  readonly memory: WebAssembly.Memory;
  touchedDistance2(rows: number, data: number, count: number, w: number, center: number): number;
  touchedDistance2MinusCenter2(rows: number, data: number, count: number, w: number, center: number): number;
  denseDistance2(data: number, n: number, center: number): number;
  addScaledRowDifference(step: number, rw: number, rows: number, data: number, count: number, w: number, center: number, a: number, weight: number): void;
  addScaledRows(step: number, rows: number, data: number, count: number, w: number, a: number): void;
  addScaledDifference(step: number, data: number, n: number, center: number, a: number): void;
}

/** Linear memory beyond this is not asked for (wasm32 tops out at 4 GiB; the JS passes take over). */
const MAX_BYTES = 2 ** 31;

let instance: PassExports | null | undefined;

/** This thread's instance, or null where WebAssembly SIMD is missing. */
function threadInstance(): PassExports | null {
  if (instance !== undefined) return instance;
  try {
    const module = new WebAssembly.Module(Uint8Array.from(atob(CENTERED_CLIPPING_PASSES_WASM_BASE64), (c) => c.charCodeAt(0)));
    instance = new WebAssembly.Instance(module, {}).exports as unknown as PassExports;
  } catch {
    instance = null;
  }
  return instance;
}

/** Where one stored tensor lives in the kernel's memory (byte offsets; rows −1 for a dense tensor). */
interface Placed {
  readonly rows: number;
  readonly data: number;
  readonly count: number;
}

/** The passes a centered-clipping iteration makes (centered-clipping-passes.ts), over arrays in the kernel's memory. */
export class CenteredClippingKernel implements IterationPasses {
  /** Float64 views into the kernel's memory, per parameter (row weights only where row-normalised). */
  readonly center: Float64Array[];
  readonly step: Float64Array[];
  readonly rowWeight: (Float64Array | null)[];
  private readonly centerAt: number[];
  private readonly stepAt: number[];
  private readonly rowWeightAt: number[];
  private readonly placed: Placed[][];

  private constructor(
    private readonly x: PassExports,
    private readonly widths: readonly number[],
    sizes: readonly number[],
    rowWeightRows: readonly (number | null)[],
    updates: readonly StoredUpdate[],
  ) {
    let at = 16;
    const take = (bytes: number) => {
      const p = at;
      at = (at + bytes + 15) & ~15;
      return p;
    };
    this.centerAt = sizes.map((n) => take(n * 8));
    this.stepAt = sizes.map((n) => take(n * 8));
    this.rowWeightAt = rowWeightRows.map((rows) => (rows === null ? -1 : take(rows * 8)));
    const placed = updates.map((u) =>
      u.tensors.map((t) => (t instanceof Float32Array ? { rows: -1, data: take(t.length * 4), count: t.length } : { rows: take(t.rows.length * 4), data: take(t.data.length * 4), count: t.rows.length })),
    );
    const mem = x.memory;
    const need = Math.ceil(at / 65536) - mem.buffer.byteLength / 65536;
    if (need > 0) mem.grow(need);
    const b = mem.buffer;
    const i32 = new Int32Array(b);
    const f32 = new Float32Array(b);
    updates.forEach((u, k) =>
      u.tensors.forEach((t, pi) => {
        const p = placed[k][pi];
        if (t instanceof Float32Array) f32.set(t, p.data >> 2);
        else {
          i32.set((t as RowSparseTensor).rows, p.rows >> 2);
          f32.set((t as RowSparseTensor).data, p.data >> 2);
        }
      }),
    );
    this.placed = placed;
    // The memory is reused: the center starts at 0 (step and row weights are cleared every iteration).
    this.center = sizes.map((n, pi) => new Float64Array(b, this.centerAt[pi], n).fill(0));
    this.step = sizes.map((n, pi) => new Float64Array(b, this.stepAt[pi], n));
    this.rowWeight = rowWeightRows.map((rows, pi) => (rows === null ? null : new Float64Array(b, this.rowWeightAt[pi], rows)));
  }

  /**
   * A kernel holding `updates`, or null where WebAssembly SIMD is missing or the updates
   * would not fit its memory (the caller runs the JS passes, with the same result).
   */
  static forUpdates(widths: readonly number[], sizes: readonly number[], rowWeightRows: readonly (number | null)[], updates: readonly StoredUpdate[]): CenteredClippingKernel | null {
    const x = threadInstance();
    if (!x) return null;
    let bytes = 16;
    for (let pi = 0; pi < sizes.length; pi++) bytes += sizes[pi] * 16 + (rowWeightRows[pi] ?? 0) * 8 + 48;
    for (const u of updates) for (const t of u.tensors) bytes += (t instanceof Float32Array ? t.length * 4 : t.rows.length * 4 + t.data.length * 4) + 32;
    if (bytes > MAX_BYTES) return null;
    return new CenteredClippingKernel(x, widths, sizes, rowWeightRows, updates);
  }

  /** Squared distance of update k's tensor pi to the center (touched rows only for row-sparse ones; `minusCenter2`: minus ‖v_r‖² over them). */
  distance2(k: number, pi: number, minusCenter2: boolean): number {
    const p = this.placed[k][pi];
    if (p.rows < 0) return this.x.denseDistance2(p.data, p.count, this.centerAt[pi]);
    return minusCenter2
      ? this.x.touchedDistance2MinusCenter2(p.rows, p.data, p.count, this.widths[pi], this.centerAt[pi])
      : this.x.touchedDistance2(p.rows, p.data, p.count, this.widths[pi], this.centerAt[pi]);
  }

  /** Adds update k's pull on tensor pi, scaled by a, into the step (and `weight` into the touched rows' weights when row-normalised). */
  pull(k: number, pi: number, a: number, weight: number): void {
    const p = this.placed[k][pi];
    if (p.rows < 0) this.x.addScaledDifference(this.stepAt[pi], p.data, p.count, this.centerAt[pi], a);
    else if (this.rowWeightAt[pi] >= 0) this.x.addScaledRowDifference(this.stepAt[pi], this.rowWeightAt[pi], p.rows, p.data, p.count, this.widths[pi], this.centerAt[pi], a, weight);
    else this.x.addScaledRows(this.stepAt[pi], p.rows, p.data, p.count, this.widths[pi], a);
  }
}
