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

  constructor(spec: ModelSpec, maxUpdates: number) {
    this.stored = new StoredUpdates(spec, maxUpdates);
  }

  /** Count and weight as they were when result() released the updates. */
  private finalCount = 0;
  private finalWeight = 0;

  get count(): number {
    return this.combined ? this.finalCount : this.stored.count;
  }

  get totalWeight(): number {
    return this.combined ? this.finalWeight : this.stored.totalWeight;
  }

  checkRoom(): void {
    this.stored.checkRoom();
  }

  add(delta: DeltaTensors, weight: number): void {
    this.stored.add(delta, weight);
  }

  private combined: NamedTensors | undefined;

  result(): NamedTensors {
    if (!this.combined) {
      const count = this.stored.count;
      const weight = this.stored.totalWeight;
      this.combined = this.combine();
      this.stored.release();
      this.finalCount = count;
      this.finalWeight = weight;
    }
    return this.combined;
  }

  /** The rule's combination of the stored updates (called once, by result()). */
  protected abstract combine(): NamedTensors;
}
