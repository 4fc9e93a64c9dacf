import type { ModelSpec } from '../model/model-spec.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { globalDelta } from './global-delta.ts';
import { clipToL2 } from './l2-clip.ts';
import { encodeUpdate, toWireTensors, type RowEncoding } from './tensor-codec.ts';

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
 */
export function buildUpdate(
  spec: ModelSpec,
  trained: NamedTensors,
  base: NamedTensors,
  meta: { round: number; baseVersion: number; numExamples: number; clipNorm: number; rows?: RowEncoding },
): BuiltUpdate {
  const { tensors, preClipNorm, clipped } = clipToL2(globalDelta(spec, trained, base), meta.clipNorm);
  const bytes = encodeUpdate({
    round: meta.round,
    baseVersion: meta.baseVersion,
    numExamples: meta.numExamples,
    preClipNorm,
    tensors: toWireTensors(spec, tensors, { sparseRows: sparseRowsOf(meta.rows ?? 'dense') }),
  });
  return { bytes, delta: tensors, preClipNorm, clipped };
}

function sparseRowsOf(rows: RowEncoding): boolean | 'when-smaller' {
  return rows === 'dense' ? false : rows === 'row-sparse' ? true : 'when-smaller';
}
