import type { NamedTensors } from '../tensor/named-tensors.ts';
import { noParticipation, type Contribution, type OutboxEntry, type Participation, type ParticipantStore, type StoredInteraction } from './participant-store.ts';
import { UPLOAD_WINDOW_MS, type UploadRecord } from './upload-budget.ts';

/** In-memory ParticipantStore for Node fleets and tests. */
export class MemoryParticipantStore implements ParticipantStore {
  private interactions: StoredInteraction[] = [];
  private local = new Map<string, NamedTensors>();
  private weights = new Map<string, Map<number, NamedTensors>>();
  private outbox: OutboxEntry[] = [];
  private meta = new Map<string, unknown>();
  private participation = new Map<string, Participation>();
  private uploads: UploadRecord[] = [];
  private uploadBudget: number | undefined;

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
  async getParticipation(kind: string) {
    return this.participation.get(kind) ?? noParticipation(kind);
  }
  async recordUpload(u: UploadRecord) {
    const p = await this.getParticipation(u.modelKind);
    this.participation.set(u.modelKind, { ...p, bytesSent: p.bytesSent + u.bytes, updatesSent: p.updatesSent + 1, lastUpdateBytes: u.bytes });
    this.uploads = [...this.uploads.filter((e) => e.at >= u.at - UPLOAD_WINDOW_MS), { modelKind: u.modelKind, bytes: u.bytes, at: u.at }];
  }
  async recordContribution(kind: string, contribution: Contribution | null) {
    const p = await this.getParticipation(kind);
    this.participation.set(kind, { ...p, roundsJoined: p.roundsJoined + 1, lastContribution: contribution ?? p.lastContribution });
  }
  async getUploadLog(since: number) {
    return this.uploads.filter((e) => e.at >= since).sort((a, b) => a.at - b.at);
  }
  async getUploadBudget() {
    return this.uploadBudget;
  }
  async putUploadBudget(bytesPerHour: number) {
    this.uploadBudget = bytesPerHour;
  }
  async getMeta<T>(key: string) {
    return this.meta.get(key) as T | undefined;
  }
  async putMeta<T>(key: string, value: T) {
    this.meta.set(key, value);
  }
}
