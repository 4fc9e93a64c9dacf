import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { noParticipation, type Contribution, type OutboxEntry, type Participation, type ParticipantStore, type StoredInteraction } from '../../shared/participant/participant-store.ts';
import { UPLOAD_WINDOW_MS, type UploadRecord } from '../../shared/participant/upload-budget.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';

interface FlockDb extends DBSchema {
  interactions: { key: number; value: StoredInteraction };
  local: { key: string; value: { modelKind: string; tensors: NamedTensors } };
  weights: { key: [string, number]; value: { modelKind: string; version: number; tensors: NamedTensors }; indexes: { byModel: string } };
  outbox: { key: number; value: OutboxEntry; indexes: { byModel: string } };
  meta: { key: string; value: unknown };
  participation: { key: string; value: Participation };
  uploads: { key: number; value: UploadRecord; indexes: { byTime: number } };
}

/**
 * 2: weights and outbox are kept per model (a coordinator may federate several).
 * 3: the device's counters per model (participation) and the rolling hour's uploads, so
 *    "what left this device" survives reloads; the upload budget lives in meta.
 */
const DB_VERSION = 3;

/** The meta key of the person's upload budget (bytes per rolling hour). */
const UPLOAD_BUDGET_KEY = 'uploadBudgetBytesPerHour';

/** The browser's ParticipantStore: everything the person does stays in this IndexedDB database. */
class IdbParticipantStore implements ParticipantStore {
  constructor(private readonly db: IDBPDatabase<FlockDb>) {}

  async getInteractions(): Promise<StoredInteraction[]> {
    return this.db.getAll('interactions');
  }

  async addInteraction(i: StoredInteraction): Promise<void> {
    await this.db.add('interactions', { item: i.item, rating: i.rating, kind: i.kind, timestamp: i.timestamp });
  }

  async removeInteractions(item: number): Promise<number> {
    const tx = this.db.transaction('interactions', 'readwrite');
    let removed = 0;
    for (let cursor = await tx.store.openCursor(); cursor; cursor = await cursor.continue()) {
      if (cursor.value.item === item) {
        await cursor.delete();
        removed++;
      }
    }
    await tx.done;
    return removed;
  }

  async getLocal(modelKind: string): Promise<NamedTensors | undefined> {
    return (await this.db.get('local', modelKind))?.tensors;
  }

  async putLocal(modelKind: string, t: NamedTensors): Promise<void> {
    await this.db.put('local', { modelKind, tensors: t });
  }

  async getWeights(modelKind: string, version: number): Promise<NamedTensors | undefined> {
    return (await this.db.get('weights', [modelKind, version]))?.tensors;
  }

  async putWeights(modelKind: string, version: number, t: NamedTensors, keep = 2): Promise<void> {
    const tx = this.db.transaction('weights', 'readwrite');
    await tx.store.put({ modelKind, version, tensors: t });
    const keys = await tx.store.index('byModel').getAllKeys(modelKind);
    keys.sort((a, b) => b[1] - a[1]);
    for (const old of keys.slice(Math.max(1, keep))) await tx.store.delete(old);
    await tx.done;
  }

  async putOutbox(e: OutboxEntry): Promise<void> {
    await this.db.add('outbox', { modelKind: e.modelKind, round: e.round, baseVersion: e.baseVersion, bytes: e.bytes, createdAt: e.createdAt });
  }

  async takeOutbox(modelKind: string): Promise<OutboxEntry[]> {
    const tx = this.db.transaction('outbox', 'readwrite');
    const index = tx.store.index('byModel');
    const entries = await index.getAll(modelKind);
    for (const key of await index.getAllKeys(modelKind)) await tx.store.delete(key);
    await tx.done;
    return entries;
  }

  async getParticipation(modelKind: string): Promise<Participation> {
    return (await this.db.get('participation', modelKind)) ?? noParticipation(modelKind);
  }

  async recordUpload(u: UploadRecord): Promise<void> {
    const tx = this.db.transaction(['participation', 'uploads'], 'readwrite');
    const counters = tx.objectStore('participation');
    const p = (await counters.get(u.modelKind)) ?? noParticipation(u.modelKind);
    await counters.put({ ...p, bytesSent: p.bytesSent + u.bytes, updatesSent: p.updatesSent + 1, lastUpdateBytes: u.bytes });
    const uploads = tx.objectStore('uploads');
    await uploads.add({ modelKind: u.modelKind, bytes: u.bytes, at: u.at });
    for (const key of await uploads.index('byTime').getAllKeys(IDBKeyRange.upperBound(u.at - UPLOAD_WINDOW_MS, true))) await uploads.delete(key);
    await tx.done;
  }

  async recordContribution(modelKind: string, contribution: Contribution | null): Promise<void> {
    const tx = this.db.transaction('participation', 'readwrite');
    const p = (await tx.store.get(modelKind)) ?? noParticipation(modelKind);
    await tx.store.put({ ...p, roundsJoined: p.roundsJoined + 1, lastContribution: contribution ?? p.lastContribution });
    await tx.done;
  }

  async getUploadLog(since: number): Promise<UploadRecord[]> {
    return this.db.getAllFromIndex('uploads', 'byTime', IDBKeyRange.lowerBound(since));
  }

  async getUploadBudget(): Promise<number | undefined> {
    const v = await this.db.get('meta', UPLOAD_BUDGET_KEY);
    return typeof v === 'number' ? v : undefined;
  }

  async putUploadBudget(bytesPerHour: number): Promise<void> {
    await this.db.put('meta', bytesPerHour, UPLOAD_BUDGET_KEY);
  }

  async getMeta<T>(key: string): Promise<T | undefined> {
    return (await this.db.get('meta', key)) as T | undefined;
  }

  async putMeta<T>(key: string, value: T): Promise<void> {
    await this.db.put('meta', value, key);
  }
}

export async function openIdbParticipantStore(dbName = 'flock'): Promise<ParticipantStore> {
  const db = await openDB<FlockDb>(dbName, DB_VERSION, {
    upgrade(d, oldVersion) {
      if (oldVersion < 1) {
        d.createObjectStore('interactions', { autoIncrement: true });
        d.createObjectStore('local', { keyPath: 'modelKind' });
        d.createObjectStore('meta');
      }
      // Version 1 kept one model's weights by version and an outbox without a model:
      // both are caches of the coordinator's state (weights are re-fetched, stale
      // updates would be rejected as late), so they are dropped, never the person's data.
      if (oldVersion === 1) {
        d.deleteObjectStore('weights');
        d.deleteObjectStore('outbox');
      }
      if (oldVersion < 2) {
        d.createObjectStore('weights', { keyPath: ['modelKind', 'version'] }).createIndex('byModel', 'modelKind');
        d.createObjectStore('outbox', { autoIncrement: true }).createIndex('byModel', 'modelKind');
      }
      // Version 3 only adds stores: interactions, local vectors, weights, outbox and meta
      // are kept as they are. Counters start at 0 (earlier versions did not keep them).
      if (oldVersion < 3) {
        d.createObjectStore('participation', { keyPath: 'modelKind' });
        d.createObjectStore('uploads', { autoIncrement: true }).createIndex('byTime', 'at');
      }
    },
  });
  return new IdbParticipantStore(db);
}

/** This browser's stable, anonymous participant id (random, never derived from the person). */
export async function getOrCreateClientId(store: ParticipantStore): Promise<string> {
  const existing = await store.getMeta<string>('clientId');
  if (existing) return existing;
  const id = crypto.randomUUID().replace(/[^A-Za-z0-9-]/g, '');
  await store.putMeta('clientId', id);
  return id;
}
