/**
 * Centered clipping's inner passes on WebAssembly (shared/kernels/centered-clipping-passes.ts,
 * built by `npm run build:kernels`): a round's stored updates are copied once into the
 * kernel's linear memory next to float64 center, step and row-weight arrays, and every iteration's
 * distance and pull run there. Bit-identical to the JS passes in centered-clipping.ts
 * (same float64 operations in the same order; unit test), 2–4× faster per pass.
 *
 * One instance per thread, reused by every result() (a fresh memory each round cost more in
 * page faults than the copy itself): its memory stays at the largest round's size, and a
 * kernel is valid only until the next forUpdates (result() is synchronous, so one at a
 * time). The module is small enough (< 4 KB) to compile synchronously on any thread.
 */
import { CENTERED_CLIPPING_PASSES_WASM_BASE64 } from '../kernels/centered-clipping-passes-wasm.ts';
import { compiledKernel, growToHold, MemoryLayout } from '../kernels/wasm-memory-layout.ts';
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
  if (instance === undefined) {
    const module = compiledKernel(CENTERED_CLIPPING_PASSES_WASM_BASE64);
    instance = module ? (new WebAssembly.Instance(module, {}).exports as unknown as PassExports) : null;
  }
  return instance;
}

/** Where one stored tensor lives in the kernel's memory (byte offsets; rows −1 for a dense tensor). */
interface Placed {
  readonly rows: number;
  readonly data: number;
  readonly count: number;
}

/** Byte offsets of every array the iterations use, and the end of them all. */
interface Layout {
  readonly centerAt: readonly number[];
  readonly stepAt: readonly number[];
  /** −1 where rows are not normalised. */
  readonly rowWeightAt: readonly number[];
  readonly placed: readonly (readonly Placed[])[];
  readonly end: number;
}

function layOut(sizes: readonly number[], rowWeightRows: readonly (number | null)[], updates: readonly StoredUpdate[]): Layout {
  const m = new MemoryLayout(16);
  const centerAt = sizes.map((n) => m.take(n * 8));
  const stepAt = sizes.map((n) => m.take(n * 8));
  const rowWeightAt = rowWeightRows.map((rows) => (rows === null ? -1 : m.take(rows * 8)));
  const placed = updates.map((u) =>
    u.tensors.map((t) => (t instanceof Float32Array ? { rows: -1, data: m.take(t.length * 4), count: t.length } : { rows: m.take(t.rows.length * 4), data: m.take(t.data.length * 4), count: t.rows.length })),
  );
  return { centerAt, stepAt, rowWeightAt, placed, end: m.end };
}

/** The passes a centered-clipping iteration makes (centered-clipping-passes.ts), over arrays in the kernel's memory. */
export class CenteredClippingKernel implements IterationPasses {
  /** Float64 views into the kernel's memory, per parameter (row weights only where row-normalised). */
  readonly center: Float64Array[];
  readonly step: Float64Array[];
  readonly rowWeight: (Float64Array | null)[];

  private constructor(
    private readonly x: PassExports,
    private readonly widths: readonly number[],
    private readonly layout: Layout,
    sizes: readonly number[],
    rowWeightRows: readonly (number | null)[],
    updates: readonly StoredUpdate[],
  ) {
    growToHold(x.memory, layout.end);
    const b = x.memory.buffer;
    const i32 = new Int32Array(b);
    const f32 = new Float32Array(b);
    updates.forEach((u, k) =>
      u.tensors.forEach((t, pi) => {
        const p = layout.placed[k][pi];
        if (t instanceof Float32Array) f32.set(t, p.data >> 2);
        else {
          i32.set(t.rows, p.rows >> 2);
          f32.set(t.data, p.data >> 2);
        }
      }),
    );
    // The memory is reused: the center starts at 0 (step and row weights are cleared every iteration).
    this.center = sizes.map((n, pi) => new Float64Array(b, layout.centerAt[pi], n).fill(0));
    this.step = sizes.map((n, pi) => new Float64Array(b, layout.stepAt[pi], n));
    this.rowWeight = rowWeightRows.map((rows, pi) => (rows === null ? null : new Float64Array(b, layout.rowWeightAt[pi], rows)));
  }

  /**
   * A kernel holding `updates`, or null where WebAssembly SIMD is missing or the updates
   * would not fit its memory (the caller runs the JS passes, with the same result).
   */
  static forUpdates(widths: readonly number[], sizes: readonly number[], rowWeightRows: readonly (number | null)[], updates: readonly StoredUpdate[]): CenteredClippingKernel | null {
    const x = threadInstance();
    if (!x) return null;
    const layout = layOut(sizes, rowWeightRows, updates);
    if (layout.end > MAX_BYTES) return null;
    return new CenteredClippingKernel(x, widths, layout, sizes, rowWeightRows, updates);
  }

  /** Squared distance of update k's tensor pi to the center (touched rows only for row-sparse ones; `minusCenter2`: minus ‖v_r‖² over them). */
  distance2(k: number, pi: number, minusCenter2: boolean): number {
    const { placed, centerAt } = this.layout;
    const p = placed[k][pi];
    if (p.rows < 0) return this.x.denseDistance2(p.data, p.count, centerAt[pi]);
    return minusCenter2
      ? this.x.touchedDistance2MinusCenter2(p.rows, p.data, p.count, this.widths[pi], centerAt[pi])
      : this.x.touchedDistance2(p.rows, p.data, p.count, this.widths[pi], centerAt[pi]);
  }

  /** Adds update k's pull on tensor pi, scaled by a, into the step (and `weight` into the touched rows' weights when row-normalised). */
  pull(k: number, pi: number, a: number, weight: number): void {
    const { placed, centerAt, stepAt, rowWeightAt } = this.layout;
    const p = placed[k][pi];
    if (p.rows < 0) this.x.addScaledDifference(stepAt[pi], p.data, p.count, centerAt[pi], a);
    else if (rowWeightAt[pi] >= 0) this.x.addScaledRowDifference(stepAt[pi], rowWeightAt[pi], p.rows, p.data, p.count, this.widths[pi], centerAt[pi], a, weight);
    else this.x.addScaledRows(stepAt[pi], p.rows, p.data, p.count, this.widths[pi], a);
  }
}
