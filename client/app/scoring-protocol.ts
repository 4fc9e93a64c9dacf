/** Messages between the page and its scoring worker (client/app/scoring-worker.ts). */
export type ScoringRequest =
  /** One model version's item table, a copy transferred to the worker (no shared memory without COOP/COEP). */
  | { readonly type: 'table'; readonly key: string; readonly vectors: Float32Array; readonly dim: number; readonly bias: Float32Array | null }
  | { readonly type: 'top-k'; readonly id: number; readonly key: string; readonly query: Float32Array; readonly k: number; readonly excluded: readonly number[] };

export type ScoringReply =
  | { readonly type: 'result'; readonly id: number; readonly items: number[]; readonly ms: number }
  | { readonly type: 'error'; readonly id: number; readonly message: string };
