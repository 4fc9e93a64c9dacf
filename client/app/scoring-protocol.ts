import type { ModelDescriptor } from '../../shared/model/model-registry.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';

/** Messages between the page and its scoring worker (client/app/scoring-worker.ts). */
export type ScoringRequest =
  /** One model version's item table, a copy transferred to the worker (no shared memory without COOP/COEP). */
  | { readonly type: 'table'; readonly key: string; readonly vectors: Float32Array; readonly dim: number; readonly bias: Float32Array | null }
  /** A model scored from the person's history (the sequence model): its descriptor and GLOBAL weights, copies transferred. */
  | { readonly type: 'model'; readonly key: string; readonly descriptor: ModelDescriptor; readonly globals: NamedTensors }
  /** Top-k against a table, for a query vector (the embedding model's user vector). */
  | { readonly type: 'top-k'; readonly id: number; readonly key: string; readonly query: Float32Array; readonly k: number; readonly excluded: readonly number[] }
  /** Top-k of a model for a history (the model's own scoreAll, then the shared top-K). */
  | { readonly type: 'top-k-history'; readonly id: number; readonly key: string; readonly history: Int32Array; readonly k: number; readonly excluded: readonly number[] };

export type ScoringReply =
  | { readonly type: 'result'; readonly id: number; readonly items: number[]; readonly ms: number }
  | { readonly type: 'error'; readonly id: number; readonly message: string };
