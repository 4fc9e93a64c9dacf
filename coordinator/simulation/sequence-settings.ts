/**
 * The shape of the sequence model (SASRec) in a research run; dim comes from the run's
 * `dim`. Used by the federated and the centralized sequence runs alike.
 */
export interface SequenceSettings {
  readonly maxLen: number;
  readonly blocks: number;
  readonly heads: number;
  readonly dropout: number;
  /**
   * Simulation only: clients trained together, one batched tfjs forward/backward per local
   * step (sequence-batched-round.ts; the same updates as one trainLocally per client, within
   * float summation order). Default DEFAULT_BATCH_CLIENTS; 1 = one trainLocally per client.
   */
  readonly batchClients?: number;
}

export const DEFAULT_SEQUENCE_SETTINGS: SequenceSettings = { maxLen: 50, blocks: 2, heads: 1, dropout: 0.2 };
