/**
 * The `weight` stage: how much one accepted update counts in its round, decided by the
 * server's policy — a client's numExamples claim alone never sets it.
 *
 * FedAvg (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
 * Decentralized Data") weights client k by n_k, its number of examples: unbounded, so one
 * client claiming 10⁷ examples owns the round. DP-FedAvg (McMahan, Ramage, Talwar &
 * Zhang 2018, "Learning Differentially Private Recurrent Language Models", §2) caps the
 * weight, w_k = min(n_k / ŵ, 1); 'examples-capped:K' is that rule scaled by K = ŵ:
 * w = min(n, K), so a participant's share of a round of n participants is at most
 * K / (K + n − 1) (every other participant weighs at least 1). 'uniform' (w = 1) ignores
 * the claim entirely: share exactly 1/n.
 */
import { FlockError } from '../errors.ts';
import type { WeightingPolicy } from './aggregation-settings.ts';

export function weightOf(policy: WeightingPolicy, numExamples: number): number {
  if (!(Number.isFinite(numExamples) && numExamples > 0)) throw new FlockError('malformed', `numExamples must be a positive number, got ${numExamples}`);
  if (policy.kind === 'uniform') return 1;
  return Math.min(numExamples, policy.cap);
}
