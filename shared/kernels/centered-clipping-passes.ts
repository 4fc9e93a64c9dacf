// @ts-nocheck — AssemblyScript, compiled by `npm run build:kernels` (asc), not by tsc: its
// types (i32, f64, v128) and builtins (load, store, f64x2) are AssemblyScript's.
/**
 * The inner passes of centered clipping (shared/aggregate/centered-clipping.ts, after
 * Karimireddy, He & Jaggi 2021) over a round's stored updates, as WebAssembly: per update,
 * its squared distance to the center, then its scaled pull added into the step.
 *
 * Bit-identical to the JS passes there: every distance is float64 sums in the same order
 * (for an even row width, even and odd positions in two partial sums, one SIMD register,
 * as the JS loop keeps them), and the pulls are element-wise float64 operations (f32 →
 * f64, subtract, multiply, add: the same IEEE operations, two lanes at a time; WebAssembly
 * never fuses a multiply and an add).
 *
 * Memory: the JS side (shared/aggregate/centered-clipping-kernel.ts) lays out the center,
 * step and row weights (float64) and the stored updates (int32 rows, float32 values) and
 * passes byte offsets; the kernel allocates nothing.
 */

/**
 * Σ over the stored rows of ‖x_r − v_r‖² (rows: count int32 row ids; data: count × w
 * float32; center: float64). For an even width, two float64 partial sums (even and odd
 * positions, one SIMD register) added at the end; for an odd width one sum in order.
 */
export function touchedDistance2(rows: usize, data: usize, count: i32, w: i32, center: usize): f64 {
  if (w & 1) {
    let d: f64 = 0;
    for (let i = 0; i < count; i++) {
      const off = center + ((<usize>load<i32>(rows + (<usize>i << 2)) * <usize>w) << 3);
      const base = data + ((<usize>i * <usize>w) << 2);
      for (let j = 0; j < w; j++) {
        const e = <f64>load<f32>(base + (<usize>j << 2)) - load<f64>(off + (<usize>j << 3));
        d += e * e;
      }
    }
    return d;
  }
  let d2 = f64x2.splat(0);
  for (let i = 0; i < count; i++) {
    const off = center + ((<usize>load<i32>(rows + (<usize>i << 2)) * <usize>w) << 3);
    const base = data + ((<usize>i * <usize>w) << 2);
    for (let j = 0; j < w; j += 2) {
      const e = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(base + (<usize>j << 2))), v128.load(off + (<usize>j << 3)));
      d2 = f64x2.add(d2, f64x2.mul(e, e));
    }
  }
  return f64x2.extract_lane(d2, 0) + f64x2.extract_lane(d2, 1);
}

/** Σ over the stored rows of ‖x_r − v_r‖² − ‖v_r‖² (untouched rows count as 0); partial sums as touchedDistance2. */
export function touchedDistance2MinusCenter2(rows: usize, data: usize, count: i32, w: i32, center: usize): f64 {
  if (w & 1) {
    let d: f64 = 0;
    let c2: f64 = 0;
    for (let i = 0; i < count; i++) {
      const off = center + ((<usize>load<i32>(rows + (<usize>i << 2)) * <usize>w) << 3);
      const base = data + ((<usize>i * <usize>w) << 2);
      for (let j = 0; j < w; j++) {
        const c = load<f64>(off + (<usize>j << 3));
        const e = <f64>load<f32>(base + (<usize>j << 2)) - c;
        d += e * e;
        c2 += c * c;
      }
    }
    return d - c2;
  }
  let d2 = f64x2.splat(0);
  let cc = f64x2.splat(0);
  for (let i = 0; i < count; i++) {
    const off = center + ((<usize>load<i32>(rows + (<usize>i << 2)) * <usize>w) << 3);
    const base = data + ((<usize>i * <usize>w) << 2);
    for (let j = 0; j < w; j += 2) {
      const c = v128.load(off + (<usize>j << 3));
      const e = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(base + (<usize>j << 2))), c);
      d2 = f64x2.add(d2, f64x2.mul(e, e));
      cc = f64x2.add(cc, f64x2.mul(c, c));
    }
  }
  return f64x2.extract_lane(d2, 0) + f64x2.extract_lane(d2, 1) - (f64x2.extract_lane(cc, 0) + f64x2.extract_lane(cc, 1));
}

/** ‖x − v‖² of a dense float32 x (n values) against the float64 center. */
export function denseDistance2(data: usize, n: i32, center: usize): f64 {
  let d: f64 = 0;
  for (let i = 0; i < n; i++) {
    const e = <f64>load<f32>(data + (<usize>i << 2)) - load<f64>(center + (<usize>i << 3));
    d += e * e;
  }
  return d;
}

/** s[r·w + j] += a·(x_ij − v[r·w + j]) over n consecutive values (two at a time). */
@inline
function pullDifference(s: usize, x: usize, v: usize, n: i32, a: f64): void {
  const av = f64x2.splat(a);
  let j = 0;
  for (; j + 2 <= n; j += 2) {
    const xs = f64x2.promote_low_f32x4(v128.load64_zero(x + (<usize>j << 2)));
    const sp = s + (<usize>j << 3);
    v128.store(sp, f64x2.add(v128.load(sp), f64x2.mul(av, f64x2.sub(xs, v128.load(v + (<usize>j << 3))))));
  }
  for (; j < n; j++) {
    const sp = s + (<usize>j << 3);
    store<f64>(sp, load<f64>(sp) + a * (<f64>load<f32>(x + (<usize>j << 2)) - load<f64>(v + (<usize>j << 3))));
  }
}

/** Row-normalised pull: s_r += a·(x_r − v_r) and rw_r += weight over the stored rows. */
export function addScaledRowDifference(step: usize, rw: usize, rows: usize, data: usize, count: i32, w: i32, center: usize, a: f64, weight: f64): void {
  for (let i = 0; i < count; i++) {
    const r = <usize>load<i32>(rows + (<usize>i << 2));
    const rp = rw + (r << 3);
    store<f64>(rp, load<f64>(rp) + weight);
    const off = (r * <usize>w) << 3;
    pullDifference(step + off, data + ((<usize>i * <usize>w) << 2), center + off, w, a);
  }
}

/** Untouched rows as 0: s_r += a·x_r over the stored rows (the −a·v part is added for every row at once, in JS). */
export function addScaledRows(step: usize, rows: usize, data: usize, count: i32, w: i32, a: f64): void {
  const av = f64x2.splat(a);
  for (let i = 0; i < count; i++) {
    const s = step + ((<usize>load<i32>(rows + (<usize>i << 2)) * <usize>w) << 3);
    const x = data + ((<usize>i * <usize>w) << 2);
    let j = 0;
    for (; j + 2 <= w; j += 2) {
      const sp = s + (<usize>j << 3);
      v128.store(sp, f64x2.add(v128.load(sp), f64x2.mul(av, f64x2.promote_low_f32x4(v128.load64_zero(x + (<usize>j << 2))))));
    }
    for (; j < w; j++) {
      const sp = s + (<usize>j << 3);
      store<f64>(sp, load<f64>(sp) + a * <f64>load<f32>(x + (<usize>j << 2)));
    }
  }
}

/** Dense pull: s += a·(x − v) over n values. */
export function addScaledDifference(step: usize, data: usize, n: i32, center: usize, a: f64): void {
  pullDifference(step, data, center, n, a);
}
