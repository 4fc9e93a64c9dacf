import { SeededRandom } from '../random/seeded-random.ts';
import { elementCount, type NamedTensors } from '../tensor/named-tensors.ts';
import type { ModelSpec, ParamScope } from './model-spec.ts';

/** Deterministic initial values for the parameters of one scope, from the spec's initialisers. */
export function initParams(spec: ModelSpec, scope: ParamScope, seed: number): NamedTensors {
  const rng = new SeededRandom(seed);
  const out: NamedTensors = {};
  for (const p of spec.params) {
    if (p.scope !== scope) continue;
    const data = new Float32Array(elementCount(p.shape));
    if (p.init.kind === 'normal') for (let i = 0; i < data.length; i++) data[i] = rng.normal() * p.init.std;
    else if (p.init.kind === 'ones') data.fill(1);
    out[p.name] = data;
  }
  return out;
}
