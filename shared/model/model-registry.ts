import { FlockError } from '../errors.ts';
import { createEmbeddingModel } from './embedding-model.ts';
import type { RecommenderModel } from './recommender-model.ts';
import { createSequenceModel } from './sasrec-model.ts';

/** The embedding (matrix factorisation) model. */
export interface MfModelDescriptor {
  readonly kind: 'mf';
  readonly numItems: number;
  readonly dim: number;
}

/** The SASRec sequence model. */
export interface SasrecModelDescriptor {
  readonly kind: 'sasrec';
  readonly numItems: number;
  readonly dim: number;
  readonly maxLen: number;
  readonly blocks: number;
  readonly heads: number;
  /** Dropout rate in [0, 1), training only. */
  readonly dropout: number;
}

/** Everything needed to rebuild a model anywhere: sent by the coordinator in every welcome. */
export type ModelDescriptor = MfModelDescriptor | SasrecModelDescriptor;

/** The single place that maps a model kind to its implementation. */
export function createModel(d: ModelDescriptor): RecommenderModel {
  switch (d.kind) {
    case 'mf':
      return createEmbeddingModel({ numItems: d.numItems, dim: d.dim }) as RecommenderModel;
    case 'sasrec':
      return createSequenceModel({
        numItems: d.numItems,
        dim: d.dim,
        maxLen: d.maxLen,
        blocks: d.blocks,
        heads: d.heads,
        dropout: d.dropout,
      }) as RecommenderModel;
    default:
      throw new FlockError('bad-config', `unknown model kind ${(d as { kind: string }).kind}`);
  }
}
