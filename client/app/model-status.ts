/**
 * Where one model's training stands for this person, in one word (data-state) and one
 * sentence: the states the page shows next to each model. Pure: the trainer and the
 * tabs that follow it feed it what they know.
 */
export type ModelActivity =
  | 'opted-out'
  | 'privacy-spent'
  | 'stood-down'
  | 'connecting'
  | 'offline'
  | 'training'
  | 'upload-paused'
  | 'hidden-paused'
  | 'needs-likes'
  | 'waiting'
  | 'up-to-date';

export interface ModelStatusInput {
  readonly participating: boolean;
  /** The coordinator stopped training this model for good: its DP budget is spent. */
  readonly privacySpent: boolean;
  /** Stood down because the same identity connected elsewhere. */
  readonly replaced: boolean;
  readonly connected: boolean;
  /** Was connected at some point since the page opened (offline vs still connecting). */
  readonly everConnected: boolean;
  /** Between a round's start and this device's update leaving (or being refused). */
  readonly training: boolean;
  readonly version: number | null;
  /** The person's interactions, and how many this model needs to learn from. */
  readonly interactions: number;
  readonly minInteractions: number;
  /** People connected to this model per the coordinator's /api/health (this device included); null while unknown. */
  readonly peopleOnline: number | null;
  /** Why the participant holds back from rounds (participant-events.ts TrainingHold), null when it does not. */
  readonly hold: TrainingHold | null;
}

import type { TrainingHold } from '../../shared/participant/participant-events.ts';

export interface ModelStatus {
  readonly state: ModelActivity;
  readonly text: string;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function describeModelStatus(i: ModelStatusInput): ModelStatus {
  if (i.privacySpent) return { state: 'privacy-spent', text: 'Training has ended: the privacy budget is spent. Recommendations use the last model.' };
  if (!i.participating) return { state: 'opted-out', text: 'Opted out: nothing is sent. Recommendations use the last model on this device.' };
  if (i.replaced) return { state: 'stood-down', text: 'Stopped here: this browser identity trains elsewhere.' };
  if (!i.connected) {
    return i.everConnected
      ? { state: 'offline', text: 'Offline: reconnecting. Recommendations keep working on this device.' }
      : { state: 'connecting', text: 'Connecting to the coordinator…' };
  }
  if (i.training) return { state: 'training', text: 'Training on this device now.' };
  if (i.hold === 'upload-budget') return { state: 'upload-paused', text: 'Paused: this hour\'s upload budget is used up. Training resumes as the hour frees up.' };
  if (i.hold === 'not-now') return { state: 'hidden-paused', text: 'Paused while this page is in the background.' };
  if (i.interactions < i.minInteractions) {
    const more = i.minInteractions - i.interactions;
    return { state: 'needs-likes', text: `Like ${plural(more, 'more item')} to take part in training.` };
  }
  const alone = i.peopleOnline !== null && i.peopleOnline <= 1;
  if (alone) return { state: 'waiting', text: 'Waiting for others: nobody else is online, and a round needs several people.' };
  if (i.version === null || i.version === 0) {
    const online = i.peopleOnline === null ? '' : ` (${plural(i.peopleOnline, 'person', 'people')} online)`;
    return { state: 'waiting', text: `Waiting for others: the shared model has not had its first round yet${online}.` };
  }
  return { state: 'up-to-date', text: `Up to date with the shared model (version ${i.version}).` };
}
