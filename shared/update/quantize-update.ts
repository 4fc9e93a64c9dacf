/**
 * An update's wire tensors in a compressed encoding (update-encoding.ts), with the clip
 * bound holding for what the coordinator will decode.
 *
 * Quantisation changes the norm: f16's round to nearest moves each value by ≤ 2⁻¹¹
 * relative, int8's stochastic rounding adds variance (E‖x̂‖² = ‖x‖² + Σ Var ≥ ‖x‖²). The
 * coordinator validates and clips the decoded values (check-update.ts: ‖Δ̂‖₂ ≤ C within
 * the float32 tolerance 1e-5), so the client makes sure ‖Δ̂‖₂ ≤ C itself: when the decoded
 * norm is above C it scales the decoded update down to C — int8 by multiplying each row's
 * scale, f16 by rounding the scaled values toward zero (so no value grows) — and
 * re-measures (each pass aims 1e-6 below C). Only updates that end above C are scaled, by
 * a factor within a few ‰ of 1: a negligible shrink, documented instead of a looser
 * server check.
 */
import { FlockError } from '../errors.ts';
import { decodeFloat16, encodeFloat16, toFloat16BitsTowardZero } from './float16.ts';
import { dequantizeInt8Rows, quantizeInt8Rows, type UniformRandom } from './quantize-int8.ts';
import { int8ScaleRows, type WireTensor } from './tensor-codec.ts';
import type { UpdateEncoding } from './update-encoding.ts';

const MAX_SHRINK_PASSES = 4;
const SHRINK_MARGIN = 1e-6;

/**
 * `tensors` (f32 values, dense or row-sparse) in `encoding`: each gets `packed` and `data`
 * becomes the decoded float32 values; ‖decoded‖₂ ≤ clipNorm. 'f32' returns the tensors
 * unchanged. `random` feeds int8's stochastic rounding. Throws FlockError('non-finite')
 * when an f16 value overflows (|x| ≥ 65520).
 */
export function quantizeWireTensors(tensors: readonly WireTensor[], encoding: UpdateEncoding, clipNorm: number, random: UniformRandom): WireTensor[] {
  if (encoding === 'f32') return [...tensors];
  if (!(clipNorm > 0 && Number.isFinite(clipNorm))) throw new FlockError('bad-config', `clip bound must be a positive finite number, got ${clipNorm}`);
  const out = tensors.map((t) => (encoding === 'f16' ? toF16(t, t.data, 1) : toInt8(t, random)));
  for (let pass = 0; pass < MAX_SHRINK_PASSES; pass++) {
    const norm = Math.sqrt(out.reduce((s, t) => s + sumSquares(t.data), 0));
    if (!Number.isFinite(norm)) throw new FlockError('non-finite', `an ${encoding} value of this update is not finite (f16 overflows at 65520)`);
    if (norm <= clipNorm) return out;
    const factor = (clipNorm / norm) * (1 - SHRINK_MARGIN);
    for (let k = 0; k < out.length; k++) out[k] = encoding === 'f16' ? toF16(out[k], out[k].data, factor) : scaleInt8(out[k], factor);
  }
  throw new FlockError('over-bound', `the ${encoding} update stayed above the clip bound ${clipNorm} after ${MAX_SHRINK_PASSES} shrinks`);
}

/** f16 of values·factor: round to nearest even at factor 1, toward zero when shrinking. */
function toF16(t: WireTensor, values: Float32Array, factor: number): WireTensor {
  const halves = new Uint16Array(values.length);
  if (factor === 1) encodeFloat16(values, halves);
  else for (let i = 0; i < values.length; i++) halves[i] = toFloat16BitsTowardZero(values[i] * factor);
  const data = new Float32Array(values.length);
  decodeFloat16(halves, data);
  return withPacked(t, data, { encoding: 'f16', halves });
}

function toInt8(t: WireTensor, random: UniformRandom): WireTensor {
  const q = quantizeInt8Rows(t.data, int8ScaleRows(t), random);
  const data = new Float32Array(t.data.length);
  dequantizeInt8Rows(q, data);
  return withPacked(t, data, { encoding: 'int8', ...q });
}

function scaleInt8(t: WireTensor, factor: number): WireTensor {
  const p = t.packed;
  if (p?.encoding !== 'int8') throw new Error('scaleInt8: not an int8 tensor');
  const q = { scales: p.scales.map((s) => s * factor), values: p.values };
  const data = new Float32Array(t.data.length);
  dequantizeInt8Rows(q, data);
  return withPacked(t, data, { encoding: 'int8', ...q });
}

function withPacked(t: WireTensor, data: Float32Array, packed: NonNullable<WireTensor['packed']>): WireTensor {
  return t.rows ? { name: t.name, shape: t.shape, rows: t.rows, data, packed } : { name: t.name, shape: t.shape, data, packed };
}

function sumSquares(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return s;
}
