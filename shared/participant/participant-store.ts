import type { NamedTensors } from '../tensor/named-tensors.ts';

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
  getMeta<T>(key: string): Promise<T | undefined>;
  putMeta<T>(key: string, value: T): Promise<void>;
}
