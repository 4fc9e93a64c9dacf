/**
 * Named float32 tensors: the one representation of model weights, local state and
 * updates that every part of Flock (browser, coordinator, fleet) passes around.
 * Shapes live in the model spec; data is a flat row-major Float32Array.
 */
export type NamedTensors = Record<string, Float32Array>;

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function cloneTensors(t: NamedTensors): NamedTensors {
  const out: NamedTensors = {};
  for (const [k, v] of Object.entries(t)) out[k] = v.slice();
  return out;
}
