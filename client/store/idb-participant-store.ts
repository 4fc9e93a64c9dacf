import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { OutboxEntry, ParticipantStore, StoredInteraction } from '../../shared/participant/participant-store.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';

interface FlockDb extends DBSchema {
  interactions: { key: number; value: StoredInteraction };
  local: { key: string; value: { modelKind: string; tensors: NamedTensors } };
  weights: { key: number; value: { version: number; tensors: NamedTensors } };
  outbox: { key: number; value: OutboxEntry };
  meta: { key: string; value: unknown };
}

const DB_VERSION = 1;

/** The browser's ParticipantStore: everything the person does stays in this IndexedDB database. */
class IdbParticipantStore implements ParticipantStore {
  constructor(private readonly db: IDBPDatabase<FlockDb>) {}

  async getInteractions(): Promise<StoredInteraction[]> {
    return this.db.getAll('interactions');
  }

  async addInteraction(i: StoredInteraction): Promise<void> {
    await this.db.add('interactions', { item: i.item, rating: i.rating, kind: i.kind, timestamp: i.timestamp });
  }

  async getLocal(modelKind: string): Promise<NamedTensors | undefined> {
    return (await this.db.get('local', modelKind))?.tensors;
  }

  async putLocal(modelKind: string, t: NamedTensors): Promise<void> {
    await this.db.put('local', { modelKind, tensors: t });
  }

  async getWeights(version: number): Promise<NamedTensors | undefined> {
    return (await this.db.get('weights', version))?.tensors;
  }

  async putWeights(version: number, t: NamedTensors, keep = 2): Promise<void> {
    const tx = this.db.transaction('weights', 'readwrite');
    await tx.store.put({ version, tensors: t });
    const versions = await tx.store.getAllKeys();
    versions.sort((a, b) => b - a);
    for (const old of versions.slice(Math.max(1, keep))) await tx.store.delete(old);
    await tx.done;
  }

  async putOutbox(e: OutboxEntry): Promise<void> {
    await this.db.add('outbox', { round: e.round, baseVersion: e.baseVersion, bytes: e.bytes, createdAt: e.createdAt });
  }

  async takeOutbox(): Promise<OutboxEntry[]> {
    const tx = this.db.transaction('outbox', 'readwrite');
    const entries = await tx.store.getAll();
    await tx.store.clear();
    await tx.done;
    return entries;
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
    upgrade(d) {
      d.createObjectStore('interactions', { autoIncrement: true });
      d.createObjectStore('local', { keyPath: 'modelKind' });
      d.createObjectStore('weights', { keyPath: 'version' });
      d.createObjectStore('outbox', { autoIncrement: true });
      d.createObjectStore('meta');
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
