import { FlockError } from '../errors.ts';
import { globalParams, type ModelSpec } from '../model/model-spec.ts';
import { elementCount, type NamedTensors } from '../tensor/named-tensors.ts';

/**
 * Δ = after − before for the GLOBAL parameters of `spec` only: LOCAL parameters
 * (e.g. the user's own embedding) never appear in the result, so they cannot leak
 * into an update by accident.
 */
export function globalDelta(spec: ModelSpec, after: NamedTensors, before: NamedTensors): NamedTensors {
  const out: NamedTensors = {};
  for (const p of globalParams(spec)) {
    const a = after[p.name];
    const b = before[p.name];
    const n = elementCount(p.shape);
    if (!a || !b) {
      throw new FlockError('wrong-shape', `globalDelta: parameter ${p.name} missing from ${!a ? 'after' : 'before'}`);
    }
    if (a.length !== n || b.length !== n) {
      throw new FlockError(
        'wrong-shape',
        `globalDelta: parameter ${p.name} expected ${n} values, got after=${a.length} before=${b.length}`,
      );
    }
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = a[i] - b[i];
    out[p.name] = d;
  }
  return out;
}
