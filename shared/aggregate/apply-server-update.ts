import { FlockError } from '../errors.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';

/**
 * Server step of FedAvg: new = old + lr × mean (lr = 1 is plain FedAvg). Returns new
 * arrays for every tensor of `globals`; tensors absent from `mean` are copied unchanged.
 */
export function applyServerUpdate(globals: NamedTensors, mean: NamedTensors, serverLearningRate: number): NamedTensors {
  if (!Number.isFinite(serverLearningRate)) throw new FlockError('bad-config', `server learning rate must be finite, got ${serverLearningRate}`);
  checkMeanMatchesGlobals(globals, mean);
  const out: NamedTensors = {};
  for (const [name, old] of Object.entries(globals)) {
    const m = mean[name];
    if (!m) {
      out[name] = old.slice();
      continue;
    }
    const o = new Float32Array(old.length);
    for (let i = 0; i < o.length; i++) o[i] = old[i] + serverLearningRate * m[i];
    out[name] = o;
  }
  return out;
}

/** Every tensor of a round's mean delta must be a global tensor of the same length. */
export function checkMeanMatchesGlobals(globals: NamedTensors, mean: NamedTensors): void {
  for (const [name, m] of Object.entries(mean)) {
    const g = globals[name];
    if (!g) throw new FlockError('wrong-shape', `mean has tensor ${name}, absent from the global weights`);
    if (m.length !== g.length) throw new FlockError('wrong-shape', `tensor ${name}: global has ${g.length} values, mean has ${m.length}`);
  }
}
