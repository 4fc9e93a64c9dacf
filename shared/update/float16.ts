/**
 * IEEE 754 binary16 ("half", f16) conversions for the update codec's 'f16' encoding.
 * float32 → float16 rounds to nearest, ties to even (the IEEE default): deterministic,
 * relative error ≤ 2⁻¹¹ ≈ 4.9e-4 for normal values, and no randomness to inject. Stochastic
 * rounding is what int8 needs (its step is 1/127 of a row's largest value, so small
 * values would be lost to a biased rounding); f16's step is relative to each value and
 * values down to 2⁻²⁴ ≈ 6e-8 are representable, so the bias of round-to-nearest is far
 * below a client update's sampling noise (measured: reports/compression/).
 * Overflow (|x| ≥ 65520) gives ±Infinity, which the caller must refuse.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to `x` (ties to even), as an integer in [0, 65535]. */
export function toFloat16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // A binary16 subnormal m·2⁻²⁴ (or zero): shift the 24-bit significand right by 14 − e.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  const rest = mant & 0x1fff;
  let h = (e << 10) | (mant >>> 13);
  // A carry out of the mantissa bumps the exponent, up to Infinity: both correct.
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

let table: Float32Array | undefined;

/** The value of every binary16 bit pattern (built once, 256 KB). */
function halfTable(): Float32Array {
  if (table) return table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 0x1f ? (m === 0 ? s * Infinity : NaN) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return (table = t);
}

/** The value of one binary16 bit pattern. */
export function fromFloat16Bits(h: number): number {
  return halfTable()[h & 0xffff];
}

/** The binary16 bit pattern nearest to `x` with |value| ≤ |x| (round toward zero; for finite x). */
export function toFloat16BitsTowardZero(x: number): number {
  const h = toFloat16Bits(x);
  // Rounded away from zero: step the magnitude down by one (bit patterns of one sign are ordered).
  return Math.abs(fromFloat16Bits(h)) > Math.abs(Math.fround(x)) ? h - 1 : h;
}

/** out[i] = the binary16 nearest src[i]. */
export function encodeFloat16(src: Float32Array, out: Uint16Array): void {
  for (let i = 0; i < src.length; i++) out[i] = toFloat16Bits(src[i]);
}

/** out[i] = the value of halves[i] (exact in float32). */
export function decodeFloat16(halves: Uint16Array, out: Float32Array): void {
  const t = halfTable();
  for (let i = 0; i < halves.length; i++) out[i] = t[halves[i]];
}
