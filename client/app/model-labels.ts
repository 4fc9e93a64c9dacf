import type { ModelKind } from '../../shared/model/model-registry.ts';

/** How the web app names each model to people. */
export const MODEL_LABELS: Readonly<Record<ModelKind, string>> = {
  mf: 'Embedding model: your overall taste',
  sasrec: 'Sequence model: what comes next',
};

/** Short names for the status panel. */
export const MODEL_SHORT_NAMES: Readonly<Record<ModelKind, string>> = {
  mf: 'Embedding model',
  sasrec: 'Sequence model',
};
