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
import type { DeltaTensor, DeltaTensors } from '../update/check-update.ts';

export function boundUpdateNorm(delta: DeltaTensors, norm: number, clipNorm: number): DeltaTensors {
  if (!(norm > clipNorm)) return delta;
  const scale = clipNorm / norm;
  const out: Record<string, DeltaTensor> = {};
  for (const [name, t] of Object.entries(delta)) {
    const v = t instanceof Float32Array ? t : t.data;
    const o = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) o[i] = v[i] * scale;
    out[name] = t instanceof Float32Array ? o : { rows: t.rows, data: o };
  }
  return out;
}
