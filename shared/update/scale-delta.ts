import type { DeltaTensor, DeltaTensors } from './check-update.ts';

/** `s · Δ` in float32, as new arrays (row indices shared); the input is never mutated. */
export function scaleDelta(delta: DeltaTensors, s: number): Record<string, DeltaTensor> {
  const out: Record<string, DeltaTensor> = {};
  for (const [name, t] of Object.entries(delta)) {
    const v = t instanceof Float32Array ? t : t.data;
    const o = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) o[i] = v[i] * s;
    out[name] = t instanceof Float32Array ? o : { rows: t.rows, data: o };
  }
  return out;
}
