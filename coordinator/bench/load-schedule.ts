/**
 * Which behaviour each round of the load bench measures. Both scenarios run on one
 * coordinator, in alternating blocks of rounds, so that a noisy machine's load hits both
 * alike: after `warmup` rounds (everyone answers), `block` rounds where every
 * participant answers, then `block` rounds where the silent share never answers, and so
 * on. The participant processes decide from the round number in each announcement, so
 * no message has to reach them between two rounds.
 */
export type LoadScenario = 'warmup' | 'answer' | 'silent';

/** `block` 0: no silent rounds at all. */
export function scenarioOfRound(round: number, warmup: number, block: number): LoadScenario {
  if (round <= warmup) return 'warmup';
  if (block <= 0) return 'answer';
  return Math.floor((round - warmup - 1) / block) % 2 === 1 ? 'silent' : 'answer';
}
