/**
 * The update codec's 'int8' encoding: per-row scaling with stochastic rounding, as in
 * QSGD (Alistarh, Grubic, Li, Tomioka & Vojnovic 2017, "QSGD: Communication-Efficient
 * SGD via Gradient Quantization and Encoding", NeurIPS) with s = 127 levels and the
 * row's max-abs value as the scale instead of its norm (the bucketed variant the paper
 * uses in practice; per-row, so one large embedding row does not flatten the others):
 *
 *   scale_r = max_j |x_rj| / 127,   q_rj = ⌊x_rj / scale_r + u_rj⌋,  u_rj ~ U[0, 1),
 *   x̂_rj = q_rj · scale_r  (float32),
 *
 * so E[x̂] = x (unbiased) and |x̂ − x| < scale_r. q is clamped to [−127, 127] (it can only
 * reach past it through float32 rounding of the scale, by one step). The uniforms come
 * from an injected source: the platform CSPRNG in browsers and the coordinator
 * (shared/random/secure-random.ts), a seeded one in research runs (seeded-random.ts).
 * 1 byte per value + 4 per row: ≈ 0.28 of f32 for a 32-wide embedding row.
 */

/** Uniform numbers in [0, 1) — SeededRandom and secureUniform() both fit. */
export interface UniformRandom {
  next(): number;
}

export interface Int8Rows {
  /** One float32 scale per row. */
  readonly scales: Float32Array;
  /** rows × width values in [−127, 127]. */
  readonly values: Int8Array;
}

/** Quantizes `x` (scales.length rows of equal width) with stochastic rounding; see the file comment. */
export function quantizeInt8Rows(x: Float32Array, rows: number, random: UniformRandom): Int8Rows {
  const scales = new Float32Array(rows);
  const values = new Int8Array(x.length);
  const width = rows > 0 ? x.length / rows : 0;
  for (let r = 0, off = 0; r < rows; r++, off += width) {
    let max = 0;
    for (let j = off; j < off + width; j++) {
      const a = Math.abs(x[j]);
      if (a > max) max = a;
    }
    scales[r] = max / 127;
    const s = scales[r];
    if (s === 0) continue;
    for (let j = off; j < off + width; j++) {
      let q = Math.floor(x[j] / s + random.next());
      if (q > 127) q = 127;
      else if (q < -127) q = -127;
      values[j] = q;
    }
  }
  return { scales, values };
}

/** out[j] = values[j] · scale of its row, in float32 (exactly what the coordinator folds in). */
export function dequantizeInt8Rows(q: Int8Rows, out: Float32Array): void {
  const rows = q.scales.length;
  const width = rows > 0 ? q.values.length / rows : 0;
  for (let r = 0, off = 0; r < rows; r++, off += width) {
    const s = q.scales[r];
    for (let j = off; j < off + width; j++) out[j] = q.values[j] * s;
  }
}
