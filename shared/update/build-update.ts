import type { ModelSpec } from '../model/model-spec.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { globalDelta } from './global-delta.ts';
import { clipToL2 } from './l2-clip.ts';
import { secureUniform } from '../random/secure-random.ts';
import { quantizeWireTensors } from './quantize-update.ts';
import type { UniformRandom } from './quantize-int8.ts';
import { encodeUpdate, toWireTensors, type RowEncoding } from './tensor-codec.ts';
import type { UpdateEncoding } from './update-encoding.ts';

export interface BuiltUpdate {
  readonly bytes: Uint8Array;
  /** The clipped Δ of the GLOBAL parameters, as sent. */
  readonly delta: NamedTensors;
  readonly preClipNorm: number;
  readonly clipped: boolean;
}

/**
 * The client side of a round's data path, in one place for browser, fleet and
 * simulation: Δ = w_local − w_v over GLOBAL parameters only, clip ‖Δ‖₂ ≤ C, encode.
 *
 * `rows` (default 'dense') is how embedding tables (rowSparse params) go on the wire:
 * 'when-smaller' sends only the touched rows whenever that is smaller (what participants
 * send), 'dense' every row. Neither hides which items a person touched — untouched rows
 * of a dense update are exactly zero, so the coordinator reads the same set from both
 * (positives mixed with sampled negatives); secure aggregation is what would hide it,
 * and it needs dense updates (a masked sum cannot be split by rows).
 *
 * `encoding` (default 'f32') is how the values travel (update-encoding.ts): f16 or int8
 * are quantized after clipping, keeping the decoded update within C (quantize-update.ts);
 * int8 draws its stochastic rounding from `random` (default: the platform CSPRNG).
 */
export function buildUpdate(
  spec: ModelSpec,
  trained: NamedTensors,
  base: NamedTensors,
  meta: { round: number; baseVersion: number; numExamples: number; clipNorm: number; rows?: RowEncoding; encoding?: UpdateEncoding; random?: UniformRandom },
): BuiltUpdate {
  const { tensors, preClipNorm, clipped } = clipToL2(globalDelta(spec, trained, base), meta.clipNorm);
  const bytes = encodeUpdate({
    round: meta.round,
    baseVersion: meta.baseVersion,
    numExamples: meta.numExamples,
    preClipNorm,
    tensors: encoded(toWireTensors(spec, tensors, { sparseRows: sparseRowsOf(meta.rows ?? 'dense') }), meta),
  });
  return { bytes, delta: tensors, preClipNorm, clipped };
}

function encoded(tensors: ReturnType<typeof toWireTensors>, meta: { clipNorm: number; encoding?: UpdateEncoding; random?: UniformRandom }): ReturnType<typeof toWireTensors> {
  const encoding = meta.encoding ?? 'f32';
  return encoding === 'f32' ? tensors : quantizeWireTensors(tensors, encoding, meta.clipNorm, meta.random ?? secureUniform());
}

function sparseRowsOf(rows: RowEncoding): boolean | 'when-smaller' {
  return rows === 'dense' ? false : rows === 'row-sparse' ? true : 'when-smaller';
}
