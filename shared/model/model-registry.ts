import { FlockError } from '../errors.ts';
import { createEmbeddingModel, type EmbeddingModelConfig } from './embedding-model.ts';
import type { RecommenderModel } from './recommender-model.ts';
import { createSequenceModel, type SequenceModelConfig } from './sasrec-model.ts';

/** The embedding (matrix factorisation) model. */
export interface MfModelDescriptor extends EmbeddingModelConfig {
  readonly kind: 'mf';
}

/** The SASRec sequence model. */
export interface SasrecModelDescriptor extends SequenceModelConfig {
  readonly kind: 'sasrec';
}

/** Everything needed to rebuild a model anywhere: sent by the coordinator in every welcome. */
export type ModelDescriptor = MfModelDescriptor | SasrecModelDescriptor;

export type ModelKind = ModelDescriptor['kind'];

/** Every model kind Flock knows, in the order the web app shows them. */
export const MODEL_KINDS: readonly ModelKind[] = ['mf', 'sasrec'];

/**
 * The fewest interactions a person needs before a model can learn anything from them:
 * the embedding model trains on every like; the sequence model needs a pair (an item
 * and the one after it). A participant with fewer says it is not eligible for that
 * model and is never selected for its rounds, so no round waits on an empty update.
 */
export function minInteractionsFor(kind: ModelKind): number {
  return kind === 'sasrec' ? 2 : 1;
}

/** Narrows a string to a ModelKind, or a typed 'bad-config' error naming the known kinds. */
export function parseModelKind(v: string): ModelKind {
  const kind = MODEL_KINDS.find((k) => k === v);
  if (!kind) throw new FlockError('bad-config', `unknown model '${v}': expected one of ${MODEL_KINDS.join(', ')}`);
  return kind;
}

/** The single place that maps a model kind to its implementation. */
export function createModel(d: ModelDescriptor): RecommenderModel {
  switch (d.kind) {
    case 'mf':
      return createEmbeddingModel(d) as RecommenderModel;
    case 'sasrec':
      return createSequenceModel(d) as RecommenderModel;
    default:
      throw new FlockError('bad-config', `unknown model kind ${(d as { kind: string }).kind}`);
  }
}
