import type { StoredInteraction } from './participant-store.ts';

/**
 * A person's training history: item ids in time order, each item once (its latest
 * interaction wins), as the models expect it.
 */
export function historyFromInteractions(interactions: readonly StoredInteraction[]): Int32Array {
  const latest = new Map<number, number>();
  for (const i of interactions) {
    const prev = latest.get(i.item);
    if (prev === undefined || i.timestamp >= prev) latest.set(i.item, i.timestamp);
  }
  return Int32Array.from([...latest.entries()].sort((a, b) => a[1] - b[1] || a[0] - b[0]).map(([item]) => item));
}
