import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { DeltaTensors } from '../update/check-update.ts';

/** What every combine rule implements (the rules and how one is chosen: combine-rule.ts). */
export interface Combiner {
  /** Whether the rule keeps every update (bounded by maxUpdates) rather than streaming them. */
  readonly storesUpdates: boolean;
  readonly count: number;
  readonly totalWeight: number;
  /** Throws FlockError('too-large') when the rule cannot take one more update. */
  checkRoom(): void;
  /** Folds in a validated, bounded delta with its weight; never throws on such input. */
  add(delta: DeltaTensors, weight: number): void;
  /** The combined delta over the GLOBAL parameters (count must be > 0). */
  result(): NamedTensors;
}
