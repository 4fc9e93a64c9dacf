// @ts-nocheck — AssemblyScript, compiled by `npm run build:kernels` (asc), not by tsc: its
// types (i32, f64, v128) and builtins (load, store, f64x2) are AssemblyScript's.
/**
 * The streaming weighted mean's fold (shared/aggregate/streaming-weighted-mean.ts) as
 * WebAssembly: sum += w·Δ in float64 over an update's rows, and each row's summed weight
 * grows by w when the row holds a non-zero value (row normalisation).
 *
 * Bit-identical to the JS fold: element-wise float64 operations (f32 → f64, multiply,
 * add: the same IEEE operations, two lanes at a time; WebAssembly never fuses a multiply
 * and an add), row weights added in the same order. The scaled variants fold
 * fround(c·x) (the bound stage's rescale of an update a hair above the clip bound): c·x in
 * float64, rounded to float32 to nearest (f32x4.demote_f64x2_zero, as Math.fround), then
 * as above.
 *
 * Memory: the JS side (shared/aggregate/weighted-fold-kernel.ts) lays out the sums, row
 * weights and one update's scratch and passes byte offsets; the kernel allocates nothing.
 */

/** s[0 … n) += w·x[0 … n) (x float32, s float64). */
@inline
function axpy(s: usize, x: usize, n: i32, w: f64): void {
  const wv = f64x2.splat(w);
  let j = 0;
  for (; j + 2 <= n; j += 2) {
    const sp = s + (<usize>j << 3);
    v128.store(sp, f64x2.add(v128.load(sp), f64x2.mul(wv, f64x2.promote_low_f32x4(v128.load64_zero(x + (<usize>j << 2))))));
  }
  for (; j < n; j++) {
    const sp = s + (<usize>j << 3);
    store<f64>(sp, load<f64>(sp) + w * <f64>load<f32>(x + (<usize>j << 2)));
  }
}

/** Whether x[0 … n) holds a value other than ±0. */
@inline
function anyNonZero(x: usize, n: i32): bool {
  for (let j = 0; j < n; j++) if (load<f32>(x + (<usize>j << 2)) != 0) return true;
  return false;
}

/**
 * For each of `count` rows (int32 ids at `rows`, width values each at `data`):
 * sum[row] += w·data_i, and rw[row] += w when the row holds a non-zero value (rw = 0: no row weights).
 */
export function foldRows(sum: usize, rw: usize, rows: usize, data: usize, count: i32, width: i32, w: f64): void {
  for (let i = 0; i < count; i++) {
    const r = <usize>load<i32>(rows + (<usize>i << 2));
    const x = data + ((<usize>i * <usize>width) << 2);
    axpy(sum + ((r * <usize>width) << 3), x, width, w);
    if (rw != 0 && anyNonZero(x, width)) {
      const rp = rw + (r << 3);
      store<f64>(rp, load<f64>(rp) + w);
    }
  }
}

/** A dense update of numRows × width values: sum += w·data, and rw[r] += w for each row holding a non-zero value (rw = 0: none). */
export function foldDense(sum: usize, rw: usize, data: usize, numRows: i32, width: i32, w: f64): void {
  if (rw == 0) {
    axpy(sum, data, numRows * width, w);
    return;
  }
  for (let r = 0; r < numRows; r++) {
    const x = data + ((<usize>r * <usize>width) << 2);
    axpy(sum + ((<usize>r * <usize>width) << 3), x, width, w);
    if (anyNonZero(x, width)) {
      const rp = rw + (<usize>r << 3);
      store<f64>(rp, load<f64>(rp) + w);
    }
  }
}

/** s[0 … n) += w·fround(c·x[0 … n)). */
@inline
function axpyScaled(s: usize, x: usize, n: i32, w: f64, c: f64): void {
  const wv = f64x2.splat(w);
  const cv = f64x2.splat(c);
  let j = 0;
  for (; j + 2 <= n; j += 2) {
    const sp = s + (<usize>j << 3);
    const scaled = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.mul(cv, f64x2.promote_low_f32x4(v128.load64_zero(x + (<usize>j << 2))))));
    v128.store(sp, f64x2.add(v128.load(sp), f64x2.mul(wv, scaled)));
  }
  for (; j < n; j++) {
    const sp = s + (<usize>j << 3);
    store<f64>(sp, load<f64>(sp) + w * <f64><f32>(c * <f64>load<f32>(x + (<usize>j << 2))));
  }
}

/** Whether fround(c·x) is non-zero for some x in x[0 … n). */
@inline
function anyNonZeroScaled(x: usize, n: i32, c: f64): bool {
  for (let j = 0; j < n; j++) if (<f32>(c * <f64>load<f32>(x + (<usize>j << 2))) != 0) return true;
  return false;
}

/** foldRows of fround(c·data). */
export function foldRowsScaled(sum: usize, rw: usize, rows: usize, data: usize, count: i32, width: i32, w: f64, c: f64): void {
  for (let i = 0; i < count; i++) {
    const r = <usize>load<i32>(rows + (<usize>i << 2));
    const x = data + ((<usize>i * <usize>width) << 2);
    axpyScaled(sum + ((r * <usize>width) << 3), x, width, w, c);
    if (rw != 0 && anyNonZeroScaled(x, width, c)) {
      const rp = rw + (r << 3);
      store<f64>(rp, load<f64>(rp) + w);
    }
  }
}

/** foldDense of fround(c·data). */
export function foldDenseScaled(sum: usize, rw: usize, data: usize, numRows: i32, width: i32, w: f64, c: f64): void {
  if (rw == 0) {
    axpyScaled(sum, data, numRows * width, w, c);
    return;
  }
  for (let r = 0; r < numRows; r++) {
    const x = data + ((<usize>r * <usize>width) << 2);
    axpyScaled(sum + ((<usize>r * <usize>width) << 3), x, width, w, c);
    if (anyNonZeroScaled(x, width, c)) {
      const rp = rw + (<usize>r << 3);
      store<f64>(rp, load<f64>(rp) + w);
    }
  }
}
