/**
 * Per-user leave-one-out split, the standard protocol for implicit-feedback
 * recommendation (NCF, He et al. 2017):
 *
 * 1. Each user's interactions are sorted by (timestamp, item id): interactions with the
 *    same timestamp are ordered by item id, the larger id counting as later. The split
 *    therefore never depends on the order of lines in the data file (MovieLens has many
 *    same-second ratings: on ML-100K, keeping the file's line order instead changes 281
 *    of 943 test items). For MovieLens the dense item id follows the raw id, so "later"
 *    is the larger MovieLens movie id.
 * 2. A repeated (user, item) pair keeps only its latest occurrence, so an item can
 *    never be both trained on and held out.
 * 3. The last interaction is the test item; with `validation` (default true) the one
 *    before it is the validation item; the rest, in time order, is train.
 * 4. Users with fewer than 3 distinct items (2 without validation) keep everything in
 *    train and get -1 for the held-out items, so they add no evaluation noise.
 */
import type { Dataset, Interaction, UserSplit } from './interactions.ts';

/** Time order of the split: timestamp, then item id (the larger id is the later one). */
export const byTimeThenItem = (a: Interaction, b: Interaction): number => a.timestamp - b.timestamp || a.item - b.item;

export function leaveOneOutSplit(dataset: Dataset, opts: { validation?: boolean } = {}): UserSplit {
  const withValidation = opts.validation ?? true;
  const perUser: Interaction[][] = Array.from({ length: dataset.numUsers }, () => []);
  for (const it of dataset.interactions) perUser[it.user].push(it);

  const train: Int32Array[] = [];
  const validation = new Int32Array(dataset.numUsers).fill(-1);
  const test = new Int32Array(dataset.numUsers).fill(-1);
  const held = withValidation ? 2 : 1;

  for (let u = 0; u < dataset.numUsers; u++) {
    const sorted = perUser[u].sort(byTimeThenItem);
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
