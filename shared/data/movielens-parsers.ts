/**
 * Parsers for the MovieLens file formats, as pure functions over text or bytes so they
 * run unchanged in the browser and in Node (reading the files is the caller's job).
 *
 * - ML-100K `u.data`:     user \t item \t rating \t timestamp
 * - ML-1M   `ratings.dat`: user::item::rating::timestamp
 * - ML-100K `u.item`:     id|title|release date|...   (Latin-1)
 * - ML-1M   `movies.dat`: id::title::genres            (Latin-1)
 *
 * Empty lines and trailing \r are ignored; any other malformed line throws
 * FlockError('bad-data') naming the file kind and the 1-based line number.
 */
import { FlockError } from '../errors.ts';
import type { Dataset, Interaction } from './interactions.ts';

/** One rating as it appears in the source file, ids still raw strings. */
export interface RawRating {
  user: string;
  item: string;
  rating: number;
  timestamp: number;
}

/** Splits text into [1-based line number, line] pairs, skipping blank lines, dropping \r. */
function* lines(text: string): Generator<[number, string]> {
  const all = text.split('\n');
  for (let i = 0; i < all.length; i++) {
    const line = all[i].endsWith('\r') ? all[i].slice(0, -1) : all[i];
    if (line.trim() !== '') yield [i + 1, line];
  }
}

function bad(kind: string, lineNo: number, why: string): FlockError {
  return new FlockError('bad-data', `${kind} line ${lineNo}: ${why}`);
}

function parseRatings(text: string, kind: string, split: (line: string) => string[]): RawRating[] {
  const out: RawRating[] = [];
  for (const [lineNo, line] of lines(text)) {
    const f = split(line);
    if (f.length !== 4) throw bad(kind, lineNo, `expected 4 fields, found ${f.length}`);
    const [user, item, r, t] = f.map((s) => s.trim());
    if (user === '' || item === '') throw bad(kind, lineNo, 'empty user or item id');
    // Number('') is 0, so reject empty strings explicitly before converting.
    const rating = r === '' ? NaN : Number(r);
    const timestamp = t === '' ? NaN : Number(t);
    if (!Number.isFinite(rating)) throw bad(kind, lineNo, `rating "${r}" is not a number`);
    if (!Number.isFinite(timestamp)) throw bad(kind, lineNo, `timestamp "${t}" is not a number`);
    out.push({ user, item, rating, timestamp });
  }
  return out;
}

/** MovieLens 100K `u.data` (tab separated; runs of spaces are accepted too). */
export function parseUData(text: string): RawRating[] {
  return parseRatings(text, 'u.data', (line) => line.trim().split(/[\t ]+/));
}

/** MovieLens 1M `ratings.dat` (`::` separated). */
export function parseRatingsDat(text: string): RawRating[] {
  return parseRatings(text, 'ratings.dat', (line) => line.split('::'));
}

function parseTitles(bytes: Uint8Array, kind: string, sep: string): Map<string, string> {
  // The MovieLens item files are Latin-1, not UTF-8 (e.g. 0xE9 is "é").
  const text = new TextDecoder('latin1').decode(bytes);
  const titles = new Map<string, string>();
  for (const [lineNo, line] of lines(text)) {
    const f = line.split(sep);
    if (f.length < 2) throw bad(kind, lineNo, `expected id${sep}title${sep}..., found ${f.length} field(s)`);
    const id = f[0].trim();
    if (id === '') throw bad(kind, lineNo, 'empty item id');
    titles.set(id, f[1].trim());
  }
  return titles;
}

/** MovieLens 100K `u.item` titles: raw item id → title. */
export function parseUItemTitles(bytes: Uint8Array): Map<string, string> {
  return parseTitles(bytes, 'u.item', '|');
}

/** MovieLens 1M `movies.dat` titles: raw item id → title. */
export function parseMoviesDatTitles(bytes: Uint8Array): Map<string, string> {
  return parseTitles(bytes, 'movies.dat', '::');
}

/** Numeric order when both ids are numbers (MovieLens), else plain string order. */
function compareRawIds(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (Number.isFinite(x) && Number.isFinite(y) && x !== y) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Raw id → dense 0-based id, in sorted raw-id order (buildDataset's mapping). */
export function denseIds(raw: Iterable<string>): Map<string, number> {
  const sorted = [...new Set(raw)].sort(compareRawIds);
  return new Map(sorted.map((id, i) => [id, i]));
}

/**
 * Maps raw ids to dense 0-based ids, users and items each in sorted numeric raw-id
 * order (so raw item "1" is item 0 and the mapping is deterministic). Only items that
 * have at least one rating are kept; interactions keep the input order.
 */
export function buildDataset(name: string, ratings: RawRating[], titles?: Map<string, string>): Dataset {
  const users = denseIds(ratings.map((r) => r.user));
  const items = denseIds(ratings.map((r) => r.item));
  const interactions: Interaction[] = ratings.map((r) => ({
    user: users.get(r.user)!,
    item: items.get(r.item)!,
    rating: r.rating,
    timestamp: r.timestamp,
  }));
  const itemTitles = new Array<string>(items.size);
  for (const [raw, id] of items) itemTitles[id] = titles?.get(raw) ?? `Item ${raw}`;
  return { name, numUsers: users.size, numItems: items.size, interactions, titles: itemTitles };
}
