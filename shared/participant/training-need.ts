import { hashString } from '../random/seeded-random.ts';
import type { Contribution, StoredInteraction } from './participant-store.ts';

/**
 * Whether a participant has something new for the shared model to learn from it
 * (issue 10: train only on new data or a changed model). It has when
 * - it never had an update accepted for this model, or
 * - its interactions changed since its last accepted update (a like, a rating, an unlike), or
 * - the current global version is not the one its last accepted update was trained on.
 * The coordinator opens a round only when an eligible participant has (coordinator/rounds/round-pacing.ts).
 * An accepted update counts only once a version is published from its round: if the round
 * then misses its quorum, or the coordinator restarts before writing it, nothing was learnt
 * from it, and saying "nothing new" would leave a coordinator whose participants all said so
 * with no round to open (e2e/coordinator-restart.test.ts stalled on exactly that).
 */
export function hasNewData(last: Contribution | null, fingerprint: number, version: number | null): boolean {
  if (!last) return true;
  if (last.dataFingerprint !== fingerprint) return true;
  return version !== null && version !== last.baseVersion;
}

/** A short hash of everything the person did (item, rating, kind, time of each interaction): changes with any addition or removal. Never leaves the device. */
export function dataFingerprint(interactions: readonly StoredInteraction[]): number {
  return hashString(interactions.map((i) => `${i.item}:${i.rating}:${i.kind}:${i.timestamp}`).join(','));
}
