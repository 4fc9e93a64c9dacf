import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
import { registerScatterAddKernels } from '../../shared/train/scatter-add-kernel.ts';
import { FlockError } from '../../shared/errors.ts';

export type NodeBackend = 'wasm' | 'cpu';

/**
 * Selects the TensorFlow.js backend for Node processes (coordinator, fleet, tests):
 * wasm (SIMD, single thread) by default, with the scatter-add kernel that makes the
 * embedding gradient fast. `@tensorflow/tfjs-node` cannot be installed here.
 */
export async function useNodeBackend(name: NodeBackend = 'wasm'): Promise<NodeBackend> {
  registerScatterAddKernels();
  if (name === 'wasm') {
    const require = createRequire(import.meta.url);
    const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    setWasmPaths(dist + path.sep);
  }
  const ok = await tf.setBackend(name);
  if (!ok) throw new FlockError('backend-unavailable', `TensorFlow.js backend '${name}' failed to initialise in Node`);
  await tf.ready();
  return name;
}
