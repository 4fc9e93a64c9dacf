import type { Dataset } from '../../shared/data/interactions.ts';
import { DEFAULT_CATALOG, generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { loadMovieLens } from './load-movielens.ts';

/**
 * The data set behind a coordinator's catalog and a fleet's clients: MovieLens read in
 * place from `dataPath`, or the deterministic built-in synthetic catalog. Coordinator and
 * fleet call this with the same arguments and so agree on item ids.
 */
export async function loadDataset(dataPath: string | undefined): Promise<Dataset> {
  if (dataPath) return loadMovieLens(dataPath);
  return generateSyntheticDataset({ ...DEFAULT_CATALOG });
}
