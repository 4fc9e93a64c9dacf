/**
 * The `bound` stage: every update that reaches `combine` has ‖Δ‖₂ ≤ C. The client clips
 * (DP-FedAvg's per-client clipping, McMahan, Ramage, Talwar & Zhang 2018, "Learning
 * Differentially Private Recurrent Language Models"); the server re-measures in float64
 * and scales anything above C — the validate stage already refused updates beyond the
 * float32 tolerance, so this only removes that slack, but it makes C a bound the server
 * enforces rather than one it trusts. Same min(1, C / ‖Δ‖) scaling in float32 as
 * clipToL2 / clipRowSparseToL2. Returns the delta itself when it is within the bound,
 * otherwise new arrays (row indices shared); the input is never mutated.
 */
import type { DeltaTensors } from '../update/check-update.ts';
import { scaleDelta } from '../update/scale-delta.ts';

export function boundUpdateNorm(delta: DeltaTensors, norm: number, clipNorm: number): DeltaTensors {
  if (!(norm > clipNorm)) return delta;
  return scaleDelta(delta, clipNorm / norm);
}
