/**
 * Per-user leave-one-out split, the standard protocol for implicit-feedback
 * recommendation (NCF, He et al. 2017):
 *
 * 1. Each user's interactions are sorted by timestamp; ties keep their original order
 *    (Array.prototype.sort is stable).
 * 2. A repeated (user, item) pair keeps only its latest occurrence, so an item can
 *    never be both trained on and held out.
 * 3. The last interaction is the test item; with `validation` (default true) the one
 *    before it is the validation item; the rest, in time order, is train.
 * 4. Users with fewer than 3 distinct items (2 without validation) keep everything in
 *    train and get -1 for the held-out items, so they add no evaluation noise.
 */
import type { Dataset, Interaction, UserSplit } from './interactions.ts';

export function leaveOneOutSplit(dataset: Dataset, opts: { validation?: boolean } = {}): UserSplit {
  const withValidation = opts.validation ?? true;
  const perUser: Interaction[][] = Array.from({ length: dataset.numUsers }, () => []);
  for (const it of dataset.interactions) perUser[it.user].push(it);

  const train: Int32Array[] = [];
  const validation = new Int32Array(dataset.numUsers).fill(-1);
  const test = new Int32Array(dataset.numUsers).fill(-1);
  const held = withValidation ? 2 : 1;

  for (let u = 0; u < dataset.numUsers; u++) {
    const sorted = perUser[u].sort((a, b) => a.timestamp - b.timestamp);
    // Walk backwards so the first time we meet an item is its latest occurrence.
    const seen = new Set<number>();
    const items: number[] = [];
    for (let i = sorted.length - 1; i >= 0; i--) {
      if (!seen.has(sorted[i].item)) {
        seen.add(sorted[i].item);
        items.push(sorted[i].item);
      }
    }
    items.reverse();
    if (items.length < held + 1) {
      train.push(Int32Array.from(items));
      continue;
    }
    test[u] = items[items.length - 1];
    if (withValidation) validation[u] = items[items.length - 2];
    train.push(Int32Array.from(items.slice(0, items.length - held)));
  }
  return { train, validation, test };
}
