import { FlockError } from '../errors.ts';
import { createEmbeddingModel } from './embedding-model.ts';
import type { RecommenderModel } from './recommender-model.ts';

/** Everything needed to rebuild a model anywhere: sent by the coordinator in every welcome. */
export interface ModelDescriptor {
  readonly kind: 'mf';
  readonly numItems: number;
  readonly dim: number;
}

/** The single place that maps a model kind to its implementation. */
export function createModel(d: ModelDescriptor): RecommenderModel {
  switch (d.kind) {
    case 'mf':
      return createEmbeddingModel({ numItems: d.numItems, dim: d.dim }) as RecommenderModel;
    default:
      throw new FlockError('bad-config', `unknown model kind ${(d as { kind: string }).kind}`);
  }
}
