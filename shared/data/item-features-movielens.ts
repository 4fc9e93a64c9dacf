/**
 * Item features of MovieLens 100K for the MF feature tower (shared/model/item-feature-tower.ts):
 * from `u.item` (id|title|release date|video date|IMDb URL|19 genre flags), each movie's
 * genres ("genre:Comedy"), release decade ("decade:1990s") and title words
 * ("word:star"; lower case, without the year, words of 3+ letters, at most 8).
 * Read only from the user's own copy of the data (its licence forbids redistribution).
 */
import { FlockError } from '../errors.ts';
import { denseIds, type RawRating } from './movielens-parsers.ts';

/** The 19 genre flags of u.item, in file order (u.genre). */
export const ML100K_GENRES = [
  'unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western',
] as const;

const MAX_TITLE_WORDS = 8;

/** Feature names of one u.item line's fields. */
export function movieFeatures(fields: readonly string[]): string[] {
  const out: string[] = [];
  const flags = fields.slice(fields.length - ML100K_GENRES.length);
  flags.forEach((f, g) => {
    if (f.trim() === '1') out.push(`genre:${ML100K_GENRES[g]}`);
  });
  const year = /\((\d{4})\)\s*$/.exec(fields[1] ?? '')?.[1] ?? /(\d{4})$/.exec((fields[2] ?? '').trim())?.[1];
  if (year) out.push(`decade:${year.slice(0, 3)}0s`);
  const words = (fields[1] ?? '').replace(/\(\d{4}\)\s*$/, '').toLowerCase().match(/[a-z]{3,}/g) ?? [];
  for (const w of [...new Set(words)].slice(0, MAX_TITLE_WORDS)) out.push(`word:${w}`);
  return out;
}

/**
 * Features of every rated item, indexed by buildDataset's dense item ids (the same
 * sorted raw-id order). An item missing from u.item gets none.
 */
export function parseUItemFeatures(bytes: Uint8Array, ratings: readonly RawRating[]): string[][] {
  const text = new TextDecoder('latin1').decode(bytes);
  const byRaw = new Map<string, string[]>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const f = line.split('|');
    if (f.length < 2 + ML100K_GENRES.length) throw new FlockError('bad-data', `u.item line ${i + 1}: expected ${5 + ML100K_GENRES.length} fields, found ${f.length}`);
    byRaw.set(f[0].trim(), movieFeatures(f));
  });
  const items = denseIds(ratings.map((r) => r.item));
  const out = new Array<string[]>(items.size);
  for (const [raw, id] of items) out[id] = byRaw.get(raw) ?? [];
  return out;
}
