import type { UniformSource } from '../../shared/random/secure-random.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';

/**
 * Picks a round's participants: max(minCount, ceil(fraction × eligible)), capped at
 * the number eligible, uniformly without replacement with a seeded RNG.
 */
export function sampleParticipants<T>(eligible: readonly T[], fraction: number, minCount: number, seed: number): T[] {
  const want = Math.min(eligible.length, Math.max(minCount, Math.ceil(fraction * eligible.length)));
  return new SeededRandom(seed).shuffle([...eligible]).slice(0, want);
}

/**
 * Poisson sampling, the sampling differential privacy's accountant assumes: each eligible
 * participant is in the round independently with probability `rate` (it may be nobody).
 * `random`: the coordinator passes secureUniform() (amplification by sampling assumes
 * nobody can predict the sample); research runs a SeededRandom.
 */
export function poissonSample<T>(eligible: readonly T[], rate: number, random: UniformSource): T[] {
  return eligible.filter(() => random.next() < rate);
}
