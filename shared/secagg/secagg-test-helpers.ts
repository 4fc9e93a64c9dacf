/**
 * Test helpers for shared/secagg (imported by *.test.ts only): participant ids, params,
 * updates in range, a constant rounding source, and the plain ring sum of encodings the
 * protocol's output must equal.
 */
import type { UniformSource } from '../random/secure-random.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { decodeFixedPointSum, encodeFixedPoint, reduceToRing } from './fixed-point-ring.ts';
import { buildSecAggParams, type SecAggParams, type SecAggParamsInput } from './secagg-params.ts';

export function participantIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `participant-${String(i).padStart(6, '0')}`);
}

export function testParams(n: number, vectorLength: number, overrides: Partial<SecAggParamsInput> = {}): SecAggParams {
  return buildSecAggParams({ context: 'test-run/round-1', participants: participantIds(n), vectorLength, clipBound: 1, ...overrides });
}

/** Updates with every coordinate in [−C, C], seeded. */
export function testUpdates(params: SecAggParams, seed = 1): Map<string, Float32Array> {
  const rng = new SeededRandom(seed);
  const c = params.clipBound;
  return new Map(params.participants.map((id) => [id, Float32Array.from({ length: params.vectorLength }, () => Math.fround((2 * rng.next() - 1) * c))]));
}

/** A rounding source that always draws u: u = 0.5 is round-half-up, so encodings are the same whoever draws first. */
export function constantRounding(u = 0.5): UniformSource {
  return { next: () => u };
}

/** Σ encode(update) over `ids` in the ring, decoded: what the protocol must return exactly (with constantRounding). */
export function plainEncodedSum(params: SecAggParams, updates: ReadonlyMap<string, Float32Array>, ids: readonly string[], rounding = constantRounding()): Float64Array {
  const acc = new Uint32Array(params.vectorLength);
  for (const id of ids) {
    const e = encodeFixedPoint(updates.get(id)!, params, rounding);
    for (let i = 0; i < acc.length; i++) acc[i] += e[i];
  }
  return decodeFixedPointSum(reduceToRing(acc, params.ringBits), params);
}
