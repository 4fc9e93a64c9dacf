/**
 * Fixed-point encoding of a clipped update in the ring Z_{2^b} before masking (Bonawitz
 * et al. 2017, §3: inputs are vectors over Z_R; Bell et al. 2020 likewise). A coordinate
 * x ∈ [−C, C] becomes the integer q = SR(x · s) with s = fixedPointScale(C, n, b), so
 * |q| ≤ R = ⌊(2^(b−1) − 1)/n⌋ and the sum of up to n encodings never leaves
 * (−2^(b−1), 2^(b−1)): the ring sum decodes to Σ q exactly, then once divided by s.
 *
 * Rounding is STOCHASTIC (SR: up with probability equal to the fractional part, from an
 * injected uniform source), so each encoding is unbiased: E[q/s] = x. Error bound: each
 * summand is off by less than 1/s, so the decoded sum of m summands is within m/s of the
 * true sum (and with probability ≥ 1 − 2e^{−2λ²} within λ·√m/s, Hoeffding). At n = 1000,
 * b = 32, C = 1: 1/s = 4.66e−7 per summand. A coordinate within 1e−5 (relative) above C
 * is saturated at C (its error is then that overshoot, not 1/s).
 *
 * Arithmetic runs mod 2^32 in Uint32Array (a store reduces mod 2^32 for free); since 2^b
 * divides 2^32, reducing mod 2^b once at the end gives the same ring element.
 */
import type { UniformSource } from '../random/secure-random.ts';
import { SecAggError } from './secagg-error.ts';
import type { SecAggParams } from './secagg-params.ts';

/**
 * Float32 rounding of a coordinate at the clip bound may overshoot it by an ulp: accepted
 * within this relative tolerance (as shared/update/check-update.ts does for norms) and
 * saturated at ±R, so the ring bound still holds.
 */
const CLIP_TOLERANCE = 1e-5;

/** The encoding of `update` in Z_{2^32}, reduced mod 2^ringBits; refuses (SecAggError 'out-of-range', 'malformed') before touching anything. */
export function encodeFixedPoint(update: Float32Array, params: SecAggParams, rounding: UniformSource): Uint32Array {
  if (update.length !== params.vectorLength) throw new SecAggError('malformed', `update has ${update.length} values, the round expects ${params.vectorLength}`);
  const c = params.clipBound * (1 + CLIP_TOLERANCE);
  for (let i = 0; i < update.length; i++) {
    const x = update[i];
    if (!(x >= -c && x <= c)) throw new SecAggError('out-of-range', `coordinate ${i} is ${x}, outside [−${params.clipBound}, ${params.clipBound}] (clip the update before masking)`);
  }
  const s = params.scale;
  const range = Math.floor((2 ** (params.ringBits - 1) - 1) / params.maxSummands);
  const mask = ringMask(params.ringBits);
  const out = new Uint32Array(update.length);
  for (let i = 0; i < update.length; i++) {
    const v = update[i] * s;
    const lo = Math.floor(v);
    let q = rounding.next() <= v - lo ? lo + 1 : lo;
    if (q > range) q = range;
    else if (q < -range) q = -range;
    out[i] = q & mask;
  }
  return out;
}

/** Reduces every word of `words` mod 2^ringBits in place. */
export function reduceToRing(words: Uint32Array, ringBits: number): Uint32Array {
  if (ringBits === 32) return words;
  const mask = ringMask(ringBits);
  for (let i = 0; i < words.length; i++) words[i] &= mask;
  return words;
}

/** Decodes a ring sum of fixed-point encodings: the signed representative of each word, divided by the scale. */
export function decodeFixedPointSum(ringSum: Uint32Array, params: SecAggParams): Float64Array {
  const b = params.ringBits;
  const mask = ringMask(b);
  const half = 2 ** (b - 1);
  const full = 2 ** b;
  const s = params.scale;
  const out = new Float64Array(ringSum.length);
  for (let i = 0; i < ringSum.length; i++) {
    const w = (ringSum[i] & mask) >>> 0;
    out[i] = (w >= half ? w - full : w) / s;
  }
  return out;
}

/** acc ← acc + x (mod 2^32). */
export function addInto(acc: Uint32Array, x: Uint32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] += x[i];
}

/** acc ← acc − x (mod 2^32). */
export function subtractFrom(acc: Uint32Array, x: Uint32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] -= x[i];
}

function ringMask(bits: number): number {
  return bits === 32 ? 0xffffffff : 2 ** bits - 1;
}
