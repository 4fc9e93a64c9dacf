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
 * participant is in the round independently with probability `rate`, with a seeded RNG
 * (who is sampled is reproducible; it may be nobody).
 */
export function poissonSample<T>(eligible: readonly T[], rate: number, seed: number): T[] {
  const rng = new SeededRandom(seed);
  return eligible.filter(() => rng.next() < rate);
}
