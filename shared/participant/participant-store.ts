import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { UploadRecord } from './upload-budget.ts';

/** An interaction the person made on their own device. Never leaves it. */
export interface StoredInteraction {
  readonly item: number;
  /** 1–5 for an explicit rating; clicks are stored as rating 1 with kind 'click'. */
  readonly rating: number;
  readonly kind: 'click' | 'rating';
  /** ms since epoch */
  readonly timestamp: number;
}

/** An update computed while offline, sent (or dropped as stale) on reconnect. */
export interface OutboxEntry {
  /** The model whose round this update belongs to. */
  readonly modelKind: string;
  readonly round: number;
  readonly baseVersion: number;
  readonly bytes: Uint8Array;
  readonly createdAt: number;
}

/** The base version and data an accepted update was trained on (shared/participant/training-need.ts). */
export interface Contribution {
  readonly baseVersion: number;
  /** dataFingerprint() of the interactions it was trained on. */
  readonly dataFingerprint: number;
}

/**
 * What this device has done in one model's rounds, cumulative across reloads: the
 * web app's "what left this device" is the sum of these, so they are kept with the
 * person's data, not in the page.
 */
export interface Participation {
  readonly modelKind: string;
  /** Updates the coordinator accepted (acknowledged). */
  readonly roundsJoined: number;
  /** Bytes of every update sent, accepted or not. */
  readonly bytesSent: number;
  readonly updatesSent: number;
  /** Size of the last update sent: the estimate of the next one for the upload budget. */
  readonly lastUpdateBytes: number | null;
  /** The last accepted update's base version and data; null before the first. */
  readonly lastContribution: Contribution | null;
}

/** A model's participation before its first round. */
export const noParticipation = (modelKind: string): Participation => ({ modelKind, roundsJoined: 0, bytesSent: 0, updatesSent: 0, lastUpdateBytes: null, lastContribution: null });

/**
 * Everything a participant keeps on its device. The browser implements it on
 * IndexedDB (client/store/idb-participant-store.ts); the Node fleet keeps it in memory.
 */
export interface ParticipantStore {
  getInteractions(): Promise<StoredInteraction[]>;
  addInteraction(i: StoredInteraction): Promise<void>;
  /** Forgets every interaction with one item (the person unliked it); how many were removed. */
  removeInteractions(item: number): Promise<number>;
  /** The person's LOCAL parameters (e.g. user embedding); undefined before the first training. */
  getLocal(modelKind: string): Promise<NamedTensors | undefined>;
  putLocal(modelKind: string, t: NamedTensors): Promise<void>;
  /** A model's global weights, cached by version. */
  getWeights(modelKind: string, version: number): Promise<NamedTensors | undefined>;
  /** Stores a version and drops this model's cached versions older than its newest `keep`. */
  putWeights(modelKind: string, version: number, t: NamedTensors, keep?: number): Promise<void>;
  putOutbox(e: OutboxEntry): Promise<void>;
  /** Returns and removes every queued entry of one model. */
  takeOutbox(modelKind: string): Promise<OutboxEntry[]>;
  /** One model's counters on this device (noParticipation before its first round). */
  getParticipation(modelKind: string): Promise<Participation>;
  /**
   * Counts one update sent for `modelKind` (bytes, updates, its size as the next
   * estimate) and adds it to the upload log, dropping entries older than one
   * UPLOAD_WINDOW_MS before `upload.at`; all in one step.
   */
  recordUpload(upload: UploadRecord): Promise<void>;
  /** Counts one accepted update (rounds joined) and remembers what it was trained on. */
  recordContribution(modelKind: string, contribution: Contribution | null): Promise<void>;
  /** Every model's uploads at or after `since` (ms since epoch), oldest first. */
  getUploadLog(since: number): Promise<UploadRecord[]>;
  /** The person's upload budget (bytes per rolling hour, all models); undefined: never set. */
  getUploadBudget(): Promise<number | undefined>;
  putUploadBudget(bytesPerHour: number): Promise<void>;
  getMeta<T>(key: string): Promise<T | undefined>;
  putMeta<T>(key: string, value: T): Promise<void>;
}
