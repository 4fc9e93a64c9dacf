/**
 * A data set as a stream of days, for prequential (test-then-train) replay: every
 * interaction in timestamp order, cut into days of 86,400 s counted from the first
 * timestamp, with items renumbered in order of first appearance — so the items that have
 * appeared by the end of day d are exactly ids 0 .. itemsBy[d] − 1, and a model whose
 * item table holds that prefix has a row for every item that exists yet.
 *
 * Order inside a day: (timestamp, original item id), the leave-one-out split's tie rule.
 * A repeated (user, item) pair keeps its first occurrence only (the item is already in
 * the person's history).
 */
import { FlockError } from '../errors.ts';
import type { Dataset } from './interactions.ts';

export const SECONDS_PER_DAY = 86_400;

export interface TimelineDay {
  /** The day's interactions in order: users, items (timeline ids) and timestamps. */
  readonly users: Int32Array;
  readonly items: Int32Array;
}

export interface DailyTimeline {
  readonly days: readonly TimelineDay[];
  /** itemsBy[d]: how many items have appeared by the end of day d (timeline ids below it exist). */
  readonly itemsBy: Int32Array;
  /** The day each timeline item first appears. */
  readonly firstDayOfItem: Int32Array;
  /** The data set's item id of each timeline item id. */
  readonly originalItem: Int32Array;
  readonly numUsers: number;
  readonly numItems: number;
  /** Timestamp of the first interaction (day 0 starts here). */
  readonly start: number;
}

export function dailyTimeline(dataset: Dataset): DailyTimeline {
  const all = dataset.interactions;
  if (all.length === 0) throw new FlockError('bad-data', `data set ${dataset.name} has no interactions to replay`);
  for (const x of all) {
    if (!Number.isFinite(x.timestamp)) throw new FlockError('bad-data', `data set ${dataset.name}: interaction (${x.user}, ${x.item}) has no finite timestamp`);
  }
  const order = [...all.keys()].sort((a, b) => all[a].timestamp - all[b].timestamp || all[a].item - all[b].item || all[a].user - all[b].user);
  const start = all[order[0]].timestamp;
  const numDays = Math.floor((all[order[order.length - 1]].timestamp - start) / SECONDS_PER_DAY) + 1;
  const timelineId = new Int32Array(dataset.numItems).fill(-1);
  const originalItem: number[] = [];
  const firstDay: number[] = [];
  const seen = new Set<number>();
  const users: number[][] = Array.from({ length: numDays }, () => []);
  const items: number[][] = Array.from({ length: numDays }, () => []);
  for (const k of order) {
    const x = all[k];
    const day = Math.floor((x.timestamp - start) / SECONDS_PER_DAY);
    const pair = x.user * dataset.numItems + x.item;
    if (seen.has(pair)) continue;
    seen.add(pair);
    if (timelineId[x.item] < 0) {
      timelineId[x.item] = originalItem.length;
      originalItem.push(x.item);
      firstDay.push(day);
    }
    users[day].push(x.user);
    items[day].push(timelineId[x.item]);
  }
  const itemsBy = new Int32Array(numDays);
  let appeared = 0;
  for (let d = 0; d < numDays; d++) {
    while (appeared < firstDay.length && firstDay[appeared] <= d) appeared++;
    itemsBy[d] = appeared;
  }
  return {
    days: users.map((u, d) => ({ users: Int32Array.from(u), items: Int32Array.from(items[d]) })),
    itemsBy,
    firstDayOfItem: Int32Array.from(firstDay),
    originalItem: Int32Array.from(originalItem),
    numUsers: dataset.numUsers,
    numItems: originalItem.length,
    start,
  };
}
