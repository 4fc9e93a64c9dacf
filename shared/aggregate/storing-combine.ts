import type { ModelSpec } from '../model/model-spec.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { DeltaTensors } from '../update/check-update.ts';
import type { Combiner } from './combiner.ts';
import { StoredUpdates } from './stored-updates.ts';

/**
 * The part every rule that needs all of a round's updates shares: it keeps them
 * (row-sparse where they are, at most `maxUpdates`) and combines them only in result().
 */
export abstract class StoringCombine implements Combiner {
  readonly storesUpdates = true;
  protected readonly stored: StoredUpdates;

  constructor(spec: ModelSpec, maxUpdates: number) {
    this.stored = new StoredUpdates(spec, maxUpdates);
  }

  get count(): number {
    return this.stored.count;
  }

  get totalWeight(): number {
    return this.stored.totalWeight;
  }

  checkRoom(): void {
    this.stored.checkRoom();
  }

  add(delta: DeltaTensors, weight: number): void {
    this.stored.add(delta, weight);
  }

  abstract result(): NamedTensors;
}
