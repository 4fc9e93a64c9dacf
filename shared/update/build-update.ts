import type { ModelSpec } from '../model/model-spec.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { globalDelta } from './global-delta.ts';
import { clipToL2 } from './l2-clip.ts';
import { encodeUpdate, toWireTensors } from './tensor-codec.ts';

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
 * Updates are sent dense. That does not hide which items a person touched (untouched
 * rows are exactly zero; positives are mixed with sampled negatives only): secure
 * aggregation or DP noise is what would.
 */
export function buildUpdate(
  spec: ModelSpec,
  trained: NamedTensors,
  base: NamedTensors,
  meta: { round: number; baseVersion: number; numExamples: number; clipNorm: number },
): BuiltUpdate {
  const { tensors, preClipNorm, clipped } = clipToL2(globalDelta(spec, trained, base), meta.clipNorm);
  const bytes = encodeUpdate({
    round: meta.round,
    baseVersion: meta.baseVersion,
    numExamples: meta.numExamples,
    preClipNorm,
    tensors: toWireTensors(spec, tensors),
  });
  return { bytes, delta: tensors, preClipNorm, clipped };
}
