/**
 * The secure-aggregation view of the membership attack through the real protocol
 * (shared/secagg/, runSecAggRound: key agreement, pairwise and self masks, fixed-point
 * ring, unmasking — everything in one process): each cohort member's clipped update,
 * densified to one vector [item embedding (numItems × dim), item bias (numItems)], goes
 * in; what the coordinator gets out is the decoded sum, which the attack then scores.
 */
import { runSecAggRound } from '../../shared/secagg/run-secagg-round.ts';
import { buildSecAggParams } from '../../shared/secagg/secagg-params.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import type { CapturedUpdate } from './membership-attack-round.ts';

/** The dense vector one participant masks: embedding rows then biases. */
function denseUpdate(u: CapturedUpdate, numItems: number, dim: number): Float32Array {
  const v = new Float32Array(numItems * dim + numItems);
  const e = u.itemEmbedding;
  for (let r = 0; r < e.rows.length; r++) v.set(e.data.subarray(r * dim, r * dim + dim), e.rows[r] * dim);
  const b = u.itemBias;
  for (let r = 0; r < b.rows.length; r++) v[numItems * dim + b.rows[r]] = b.data[r];
  return v;
}

/** The cohort's sum as the secure-aggregation protocol decodes it (research runs: seeded rounding). */
export function secAggCohortSum(updates: readonly CapturedUpdate[], members: readonly number[], numItems: number, dim: number, clipBound: number, seed: number): Map<string, Float64Array> {
  const inputs = new Map<string, Float32Array>();
  for (const k of members) inputs.set(`person-${updates[k].user}`, denseUpdate(updates[k], numItems, dim));
  const params = buildSecAggParams({ context: `membership-attack/${seed}/${members.join(',').length}`, participants: [...inputs.keys()], vectorLength: numItems * dim + numItems, clipBound });
  const { sum } = runSecAggRound(params, inputs, { rounding: new SeededRandom(seed) });
  return new Map([
    ['itemEmbedding', sum.subarray(0, numItems * dim)],
    ['itemBias', sum.subarray(numItems * dim)],
  ]);
}

/** Whether the protocol's in-process runner works yet (a 3-person round of 4 numbers). */
export function secAggRunnerAvailable(): boolean {
  try {
    const params = buildSecAggParams({ context: 'probe', participants: ['a', 'b', 'c'], vectorLength: 4, clipBound: 1 });
    const inputs = new Map(['a', 'b', 'c'].map((id, i) => [id, Float32Array.of(0.1 * i, -0.2, 0, 0.5)] as [string, Float32Array]));
    const { sum } = runSecAggRound(params, inputs, { rounding: new SeededRandom(1) });
    return Math.abs(sum[0] - 0.3) < 1e-4 && Math.abs(sum[1] + 0.6) < 1e-4;
  } catch {
    return false;
  }
}
