import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { OutboxEntry, ParticipantStore, StoredInteraction } from './participant-store.ts';

/** In-memory ParticipantStore for Node fleets and tests. */
export class MemoryParticipantStore implements ParticipantStore {
  private interactions: StoredInteraction[] = [];
  private local = new Map<string, NamedTensors>();
  private weights = new Map<string, Map<number, NamedTensors>>();
  private outbox: OutboxEntry[] = [];
  private meta = new Map<string, unknown>();

  constructor(initial: StoredInteraction[] = []) {
    this.interactions = [...initial];
  }
  async getInteractions() {
    return [...this.interactions];
  }
  async addInteraction(i: StoredInteraction) {
    this.interactions.push(i);
  }
  async removeInteractions(item: number) {
    const before = this.interactions.length;
    this.interactions = this.interactions.filter((i) => i.item !== item);
    return before - this.interactions.length;
  }
  async getLocal(kind: string) {
    return this.local.get(kind);
  }
  async putLocal(kind: string, t: NamedTensors) {
    this.local.set(kind, t);
  }
  async getWeights(kind: string, version: number) {
    return this.weights.get(kind)?.get(version);
  }
  async putWeights(kind: string, version: number, t: NamedTensors, keep = 2) {
    const cache = this.weights.get(kind) ?? new Map<number, NamedTensors>();
    this.weights.set(kind, cache);
    cache.set(version, t);
    const versions = [...cache.keys()].sort((a, b) => b - a);
    for (const v of versions.slice(Math.max(1, keep))) cache.delete(v);
  }
  async putOutbox(e: OutboxEntry) {
    this.outbox.push(e);
  }
  async takeOutbox(kind: string) {
    const taken = this.outbox.filter((e) => e.modelKind === kind);
    this.outbox = this.outbox.filter((e) => e.modelKind !== kind);
    return taken;
  }
  async getMeta<T>(key: string) {
    return this.meta.get(key) as T | undefined;
  }
  async putMeta<T>(key: string, value: T) {
    this.meta.set(key, value);
  }
}
