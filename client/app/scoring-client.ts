import type { ItemTable } from '../../shared/eval/top-k.ts';
import type { ModelDescriptor } from '../../shared/model/model-registry.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import type { ScoringReply, ScoringRequest } from './scoring-protocol.ts';

/**
 * The page's handle on its scoring worker (scoring-worker.ts): hands it an item table
 * once per model version (a copy, transferred) and asks for top-K lists, so scoring a
 * large catalog never blocks typing or scrolling.
 */
export class ScoringClient {
  private readonly worker: Worker;
  private readonly loaded = new Map<string, number>();
  private readonly waiting = new Map<number, { resolve: (items: number[]) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  /** How long the last query took inside the worker (ms). */
  lastMs = 0;

  constructor() {
    this.worker = new Worker(new URL('./scoring-worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e: MessageEvent<ScoringReply>) => {
      const r = e.data;
      const w = this.waiting.get(r.id);
      if (!w) return;
      this.waiting.delete(r.id);
      if (r.type === 'result') {
        this.lastMs = r.ms;
        w.resolve(r.items);
      } else w.reject(new Error(r.message));
    };
    this.worker.onerror = (e) => {
      for (const w of this.waiting.values()) w.reject(new Error(`the scoring worker failed: ${e.message}`));
      this.waiting.clear();
    };
  }

  /** Whether the worker holds `key`'s table of this version. */
  hasTable(key: string, version: number): boolean {
    return this.loaded.get(key) === version;
  }

  /**
   * Hands the worker `key`'s table for `version` unless it holds it already. The arrays
   * are transferred: the caller must not use them afterwards (pass copies).
   */
  ensureTable(key: string, version: number, table: ItemTable): void {
    if (this.loaded.get(key) === version) return;
    const { vectors, bias } = table;
    const msg: ScoringRequest = { type: 'table', key, vectors, dim: table.dim, bias };
    this.worker.postMessage(msg, (bias ? [vectors.buffer, bias.buffer] : [vectors.buffer]) as ArrayBuffer[]);
    this.loaded.set(key, version);
  }

  /** Hands the worker a model scored from histories (its GLOBAL weights, copied and transferred) unless it holds this version. */
  ensureModel(key: string, version: number, descriptor: ModelDescriptor, globals: NamedTensors): void {
    if (this.loaded.get(key) === version) return;
    const copies: NamedTensors = Object.fromEntries(Object.entries(globals).map(([name, t]) => [name, t.slice()]));
    const msg: ScoringRequest = { type: 'model', key, descriptor, globals: copies };
    this.worker.postMessage(msg, Object.values(copies).map((t) => t.buffer as ArrayBuffer));
    this.loaded.set(key, version);
  }

  /** The k best items for a query vector against `key`'s table. */
  topK(key: string, query: Float32Array, k: number, excluded: readonly number[]): Promise<number[]> {
    return this.ask({ type: 'top-k', id: this.nextId++, key, query: query.slice(), k, excluded: [...excluded] });
  }

  /** The k best items of `key`'s model for a history (the history itself is excluded). */
  topKForHistory(key: string, history: Int32Array, k: number, excluded: readonly number[]): Promise<number[]> {
    return this.ask({ type: 'top-k-history', id: this.nextId++, key, history: history.slice(), k, excluded: [...excluded] });
  }

  private ask(msg: Extract<ScoringRequest, { id: number }>): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.waiting.set(msg.id, { resolve, reject });
      this.worker.postMessage(msg);
    });
  }
}
