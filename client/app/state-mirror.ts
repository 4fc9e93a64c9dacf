/**
 * What the tabs of one browser profile tell each other over a BroadcastChannel. The
 * trainer tab (client/app/tab-election.ts) publishes a snapshot of everything it shows
 * about training — each model's status, recommendations and privacy guarantee, the backend, whether the
 * profile takes part — whenever it changes and whenever a tab says hello; follower tabs
 * show that snapshot instead of training themselves. Every tab announces a like or
 * rating it has just written to IndexedDB (so the trainer updates eligibility and
 * recommendations, and every tab marks the item) and a change of opt-out.
 *
 * The channel never leaves the browser (same origin, same profile). Messages are
 * checked with zod all the same: a tab still running an older build may be open.
 */
import { z } from 'zod';
import type { ParticipantState } from '../../shared/participant/participant.ts';
import type { StoredInteraction } from '../../shared/participant/participant-store.ts';
import { BackendNameSchema } from '../../shared/protocol/messages.ts';
import { LOCAL_TRAINERS } from '../../shared/train/mf-kernel-local-training.ts';
import { PrivacyStateSchema } from './privacy-text.ts';

export const STATE_CHANNEL_NAME = 'flock-state';

const ParticipantStateSchema = z.object({
  connected: z.boolean(),
  version: z.number().int().nullable(),
  roundsJoined: z.number().int().nonnegative(),
  lastLoss: z.number().nullable(),
  bytesSent: z.number().nonnegative(),
  updatesSent: z.number().int().nonnegative(),
  lastRejection: z.string().nullable(),
  uploadBudgetBytesPerHour: z.number().nonnegative(),
  uploadedLastHourBytes: z.number().nonnegative(),
  trainingHold: z.enum(['not-enough-data', 'not-now', 'upload-budget', 'up-to-date']).nullable(),
  /** Absent from a tab running an older build. */
  localTrainer: z.enum(LOCAL_TRAINERS).nullable().default(null),
}) satisfies z.ZodType<ParticipantState, z.ZodTypeDef, unknown>;

/** One recommendation panel as shown: heading, items in rank order, the version they came from. */
export const RecsSnapshotSchema = z.object({
  heading: z.string(),
  items: z.array(z.number().int().nonnegative()),
  version: z.number().int().nullable(),
  note: z.string().optional(),
  /** 'popular': what many people like (before the model knows this person); 'personal': scored for them. */
  source: z.enum(['popular', 'personal']).optional(),
});
export type RecsSnapshot = z.infer<typeof RecsSnapshotSchema>;

const ModelSnapshotSchema = z.object({
  state: ParticipantStateSchema,
  recs: RecsSnapshotSchema.nullable(),
  /** Why this model's participant stood down (the same identity connected elsewhere), or null. */
  replaced: z.string().nullable(),
  /** The model's privacy guarantee as the trainer last fetched it; absent from a tab running an older build. */
  privacy: PrivacyStateSchema.optional(),
  /** Where the model's training stands (client/app/model-status.ts); absent from a tab running an older build. */
  status: z.object({ state: z.string(), text: z.string() }).optional(),
});
export type ModelSnapshot = z.infer<typeof ModelSnapshotSchema>;

export const TrainerSnapshotSchema = z.object({
  backend: z.object({ name: BackendNameSchema, reason: z.string() }),
  participating: z.boolean(),
  /** By model kind. */
  models: z.record(z.string(), ModelSnapshotSchema),
});
export type TrainerSnapshot = z.infer<typeof TrainerSnapshotSchema>;

const StoredInteractionSchema = z.object({
  item: z.number().int().nonnegative(),
  rating: z.number(),
  kind: z.enum(['click', 'rating']),
  timestamp: z.number(),
}) satisfies z.ZodType<StoredInteraction>;

const MirrorMessageSchema = z.discriminatedUnion('type', [
  /** The trainer's view of training, in full. */
  z.object({ type: z.literal('snapshot'), snapshot: TrainerSnapshotSchema }),
  /** A tab opened or became a follower: the trainer answers with a snapshot. */
  z.object({ type: z.literal('hello') }),
  /** A tab wrote this interaction to IndexedDB. */
  z.object({ type: z.literal('interaction'), interaction: StoredInteractionSchema }),
  /** A tab removed every interaction with this item from IndexedDB (the person unliked it). */
  z.object({ type: z.literal('unlike'), item: z.number().int().nonnegative() }),
  /** A tab changed the profile's opt-out (already written to IndexedDB). */
  z.object({ type: z.literal('participation'), participating: z.boolean() }),
  /** A follower asks the trainer to train again the models it stopped after 'replaced'. */
  z.object({ type: z.literal('reclaim') }),
]);
type MirrorMessage = z.infer<typeof MirrorMessageSchema>;

export interface MirrorHandlers {
  onSnapshot(snapshot: TrainerSnapshot): void;
  onHello(): void;
  onInteraction(interaction: StoredInteraction): void;
  onUnlike(item: number): void;
  onParticipation(participating: boolean): void;
  onReclaim(): void;
}

/** This tab's end of the profile's state channel (a no-op where BroadcastChannel is missing). */
export class StateMirror {
  private readonly channel: BroadcastChannel | null;

  constructor(handlers: MirrorHandlers, name = STATE_CHANNEL_NAME) {
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(name) : null;
    if (!this.channel) return;
    this.channel.onmessage = (e: MessageEvent) => {
      const parsed = MirrorMessageSchema.safeParse(e.data);
      if (!parsed.success) {
        console.warn('ignored a message from another tab:', parsed.error.issues[0]?.message);
        return;
      }
      const msg = parsed.data;
      switch (msg.type) {
        case 'snapshot':
          return handlers.onSnapshot(msg.snapshot);
        case 'hello':
          return handlers.onHello();
        case 'interaction':
          return handlers.onInteraction(msg.interaction);
        case 'unlike':
          return handlers.onUnlike(msg.item);
        case 'participation':
          return handlers.onParticipation(msg.participating);
        case 'reclaim':
          return handlers.onReclaim();
      }
    };
  }

  /** Whether other tabs can hear this one at all. */
  get available(): boolean {
    return this.channel !== null;
  }

  publish(snapshot: TrainerSnapshot): void {
    this.post({ type: 'snapshot', snapshot });
  }

  hello(): void {
    this.post({ type: 'hello' });
  }

  announceInteraction(interaction: StoredInteraction): void {
    const { item, rating, kind, timestamp } = interaction;
    this.post({ type: 'interaction', interaction: { item, rating, kind, timestamp } });
  }

  announceUnlike(item: number): void {
    this.post({ type: 'unlike', item });
  }

  announceParticipation(participating: boolean): void {
    this.post({ type: 'participation', participating });
  }

  askToReclaim(): void {
    this.post({ type: 'reclaim' });
  }

  close(): void {
    this.channel?.close();
  }

  private post(msg: MirrorMessage): void {
    this.channel?.postMessage(msg);
  }
}
