import type { ModelSpec } from '../model/model-spec.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { DeltaTensors } from '../update/check-update.ts';
import type { Combiner } from './combiner.ts';
import { StoredUpdates } from './stored-updates.ts';

/**
 * The part every rule that needs all of a round's updates shares: it keeps them
 * (row-sparse where they are, at most `maxUpdates`) and combines them only in result(),
 * once: the combined delta is kept, the stored updates are released (their memory goes
 * to the next round) and later add() calls are refused.
 */
export abstract class StoringCombine implements Combiner {
  readonly storesUpdates = true;
  protected readonly stored: StoredUpdates;
  /** Once result() ran: the combined delta, and the count and weight it was combined from (the stored updates are released). */
  private combined: { readonly delta: NamedTensors; readonly count: number; readonly totalWeight: number } | undefined;

  constructor(spec: ModelSpec, maxUpdates: number) {
    this.stored = new StoredUpdates(spec, maxUpdates);
  }

  get count(): number {
    return this.combined?.count ?? this.stored.count;
  }

  get totalWeight(): number {
    return this.combined?.totalWeight ?? this.stored.totalWeight;
  }

  checkRoom(): void {
    this.stored.checkRoom();
  }

  add(delta: DeltaTensors, weight: number): void {
    this.stored.add(delta, weight);
  }

  result(): NamedTensors {
    if (!this.combined) {
      this.combined = { delta: this.combine(), count: this.stored.count, totalWeight: this.stored.totalWeight };
      this.stored.release();
    }
    return this.combined.delta;
  }

  /** The rule's combination of the stored updates (called once, by result()). */
  protected abstract combine(): NamedTensors;
}
