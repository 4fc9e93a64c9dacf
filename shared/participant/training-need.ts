import { hashString } from '../random/seeded-random.ts';
import type { Contribution, StoredInteraction } from './participant-store.ts';

/**
 * Whether a participant has something new for the shared model to learn from it
 * (issue 10: train only on new data or a changed model). It has when
 * - it never had an update accepted for this model, or
 * - its interactions changed since its last accepted update (a like, a rating, an unlike), or
 * - the current global version is not the one its last accepted update was trained on.
 * The coordinator opens a round only when an eligible participant has (coordinator/rounds/round-pacing.ts).
 * An accepted update counts even if its round then missed its quorum: the participant
 * has trained on that version with that data, and retraining the same would send the
 * same; it takes part again with new data or a new version (a newcomer's round makes one).
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
