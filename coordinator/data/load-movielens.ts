/**
 * Reads a MovieLens folder from disk (Node only). The layout is detected from the files
 * present: `u.data` + `u.item` is MovieLens 100K, `ratings.dat` + `movies.dat` is 1M.
 * The data's licence forbids redistribution, so it is only ever read from a path the
 * user gives (or the default sibling folder), never copied into the repo.
 */
import { existsSync } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { FlockError } from '../../shared/errors.ts';
import type { Dataset } from '../../shared/data/interactions.ts';
import {
  buildDataset,
  parseMoviesDatTitles,
  parseRatingsDat,
  parseUData,
  parseUItemTitles,
} from '../../shared/data/movielens-parsers.ts';
import { parseUItemFeatures } from '../../shared/data/item-features-movielens.ts';

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Loads MovieLens 100K or 1M from `dir`, named `ml-100k` or `ml-1m`. */
export async function loadMovieLens(dir: string): Promise<Dataset> {
  const p = (f: string) => path.join(dir, f);
  if ((await exists(p('u.data'))) && (await exists(p('u.item')))) {
    const [ratings, items] = await Promise.all([readFile(p('u.data'), 'latin1'), readFile(p('u.item'))]);
    const raw = parseUData(ratings);
    // Genres, decade and title words: the MF feature tower's item features.
    return { ...buildDataset('ml-100k', raw, parseUItemTitles(items)), itemFeatures: parseUItemFeatures(items, raw) };
  }
  if ((await exists(p('ratings.dat'))) && (await exists(p('movies.dat')))) {
    const [ratings, movies] = await Promise.all([readFile(p('ratings.dat'), 'latin1'), readFile(p('movies.dat'))]);
    return buildDataset('ml-1m', parseRatingsDat(ratings), parseMoviesDatTitles(movies));
  }
  throw new FlockError(
    'not-found',
    `No MovieLens data in ${path.resolve(dir)}: looked for u.data + u.item (MovieLens 100K) ` +
      'or ratings.dat + movies.dat (MovieLens 1M). Download it from https://grouplens.org/datasets/movielens/ ' +
      'and pass the folder that contains those files.',
  );
}

/** `../shared/data/ml-100k` (relative to the working directory) when it exists. */
export function defaultMovieLensDir(): string | undefined {
  const dir = path.resolve('../shared/data/ml-100k');
  return existsSync(dir) ? dir : undefined;
}
