/**
 * An update's GLOBAL parameters as ONE dense vector, in the model spec's parameter order,
 * and back: the shape secure aggregation masks (shared/secagg/, one ring word per
 * coordinate). Both sides derive the layout from the same spec, so nothing about it
 * travels. There is no row-sparse form: a masked sum cannot be split by rows, and a
 * sparse layout would tell the coordinator which rows a person touched.
 */
import { FlockError } from '../errors.ts';
import { globalParams, type ModelSpec } from '../model/model-spec.ts';
import { elementCount } from '../tensor/named-tensors.ts';

/** Coordinates of the flat vector: every GLOBAL parameter's elements. */
export function globalVectorLength(spec: ModelSpec): number {
  let n = 0;
  for (const p of globalParams(spec)) n += elementCount(p.shape);
  return n;
}

/**
 * The GLOBAL tensors of `delta` laid end to end, each coordinate clamped to
 * [−bound, bound] (a clipped update's coordinates are within its L2 bound up to float32
 * rounding; the clamp only removes that rounding, so the ring encoding never refuses it).
 */
export function flattenGlobals(spec: ModelSpec, delta: Readonly<Record<string, Float32Array>>, bound: number): Float32Array {
  const out = new Float32Array(globalVectorLength(spec));
  let off = 0;
  for (const p of globalParams(spec)) {
    const d = delta[p.name];
    const n = elementCount(p.shape);
    if (!d || d.length !== n) throw new FlockError('wrong-shape', `${p.name}: expected ${n} values, got ${d ? d.length : 'none'}`);
    for (let i = 0; i < n; i++) {
      const x = d[i];
      if (!Number.isFinite(x)) throw new FlockError('non-finite', `${p.name}[${i}] is ${x}`);
      out[off + i] = x > bound ? bound : x < -bound ? -bound : x;
    }
    off += n;
  }
  return out;
}

/** The flat vector cut back into the GLOBAL tensors of `spec` (float64, as a sum is kept). */
export function unflattenGlobals(spec: ModelSpec, flat: Float64Array): Map<string, Float64Array> {
  const n = globalVectorLength(spec);
  if (flat.length !== n) throw new FlockError('wrong-shape', `a ${spec.kind} vector has ${n} coordinates, got ${flat.length}`);
  const out = new Map<string, Float64Array>();
  let off = 0;
  for (const p of globalParams(spec)) {
    const len = elementCount(p.shape);
    out.set(p.name, flat.slice(off, off + len));
    off += len;
  }
  return out;
}
