import { FlockError } from '../errors.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';

/**
 * Server step of FedAvg: new = old + lr × mean (lr = 1 is plain FedAvg). Returns new
 * arrays for every tensor of `globals`; tensors absent from `mean` are copied unchanged.
 */
export function applyServerUpdate(globals: NamedTensors, mean: NamedTensors, serverLearningRate: number): NamedTensors {
  if (!Number.isFinite(serverLearningRate)) throw new FlockError('bad-config', `server learning rate must be finite, got ${serverLearningRate}`);
  for (const name of Object.keys(mean)) {
    if (!globals[name]) throw new FlockError('wrong-shape', `mean has tensor ${name}, absent from the global weights`);
  }
  const out: NamedTensors = {};
  for (const [name, old] of Object.entries(globals)) {
    const m = mean[name];
    if (!m) {
      out[name] = old.slice();
      continue;
    }
    if (m.length !== old.length) throw new FlockError('wrong-shape', `tensor ${name}: global has ${old.length} values, mean has ${m.length}`);
    const o = new Float32Array(old.length);
    for (let i = 0; i < o.length; i++) o[i] = old[i] + serverLearningRate * m[i];
    out[name] = o;
  }
  return out;
}
