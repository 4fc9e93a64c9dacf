import type { ModelSpec } from '../model/model-spec.ts';
import { elementCount, type NamedTensors } from '../tensor/named-tensors.ts';
import type { DeltaTensors } from './check-update.ts';
import { toWireTensors, type RowEncoding, type WireTensor } from './tensor-codec.ts';

/**
 * A delta held in memory (each tensor dense or row-sparse, as the simulation's trainers
 * hand it over) as the wire tensors a participant would send with row layout `rows`:
 * densified, then toWireTensors — so the simulation's wire path (`--update-encoding`)
 * puts on the wire exactly what buildUpdate would.
 */
export function deltaToWireTensors(spec: ModelSpec, delta: DeltaTensors, rows: RowEncoding): WireTensor[] {
  const dense: NamedTensors = {};
  for (const p of spec.params) {
    const t = delta[p.name];
    if (!t) continue;
    if (t instanceof Float32Array) {
      dense[p.name] = t;
      continue;
    }
    const out = new Float32Array(elementCount(p.shape));
    const width = out.length / (p.shape[0] ?? 1);
    for (let i = 0; i < t.rows.length; i++) out.set(t.data.subarray(i * width, (i + 1) * width), t.rows[i] * width);
    dense[p.name] = out;
  }
  return toWireTensors(spec, dense, { sparseRows: rows === 'dense' ? false : rows === 'row-sparse' ? true : 'when-smaller' });
}
