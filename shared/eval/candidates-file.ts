/**
 * Flock's candidates file (`candidates.json` in a research run's folder): the fixed
 * sampled-protocol lists of a data set (shared/eval/candidates.ts), written once and
 * reused, so every run on the data set — any seed, any model — ranks against the same
 * negatives. Pure text in, text out (the CLI reads and writes the file).
 *
 * ```
 * {"format": "flock-candidates", "formatVersion": 1,
 *  "dataset": "ml-100k", "users": 943, "items": 1682,
 *  "splitHash": "…16 hex…",            the split the lists belong to (shared/data/split-hash.ts)
 *  "ids": "dense",                      Flock's dense ids: users and items numbered 0, 1, … in
 *                                       sorted raw-id order (ML-100K: raw id − 1)
 *  "origin": {"kind": "sampled", "seed": …, "negatives": 100},
 *  "rule": "…",                         the rule in words
 *  "test": [[user, test item, negative, …], …],              one row per user with a test item
 *  "validation": [[user, validation item, negative, …], …]}  one per user with a validation item
 * ```
 *
 * Reading checks everything against the split it is used with: the split hash, every
 * row's held-out item, a row for every user with a held-out item, and no negative the
 * person interacted with (FlockError 'bad-data' otherwise).
 */
import type { UserSplit } from '../data/interactions.ts';
import { splitHash } from '../data/split-hash.ts';
import { FlockError } from '../errors.ts';
import { candidatesOf, checkCandidates, packLists, type CandidatesOrigin, type EvaluationCandidates } from './candidates.ts';

export const CANDIDATES_FORMAT = 'flock-candidates';

const RULE =
  'negatives: items the person never interacted with (not train, not the validation item, not the test item), ' +
  'uniformly without replacement, seeded by the split (independent of any run seed); full ranking ranks the target ' +
  'against every item the person never interacted with';

/** The file's text: a header, then one row per line so the file reads and diffs line by line. */
export function formatCandidatesFile(c: EvaluationCandidates, split: UserSplit, dataset: string): string {
  const head = {
    format: CANDIDATES_FORMAT,
    formatVersion: 1,
    dataset,
    users: c.numUsers,
    items: c.numItems,
    splitHash: c.splitHash,
    ids: 'dense',
    origin: c.origin,
    rule: RULE,
  };
  const rows = (which: 'test' | 'validation') => {
    const heldOut = which === 'test' ? split.test : split.validation;
    const out: string[] = [];
    for (let u = 0; u < c.numUsers; u++) if (heldOut[u] >= 0) out.push(JSON.stringify([u, heldOut[u], ...candidatesOf(c[which], u)]));
    return out.join(',\n');
  };
  const json = JSON.stringify(head);
  return `${json.slice(0, -1)},\n"test": [\n${rows('test')}\n],\n"validation": [\n${rows('validation')}\n]}\n`;
}

/** Reads a candidates file (`what` names it in errors) and checks it against `split`. */
export function parseCandidatesFile(text: string, split: UserSplit, numItems: number, what = 'candidates file'): EvaluationCandidates {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new FlockError('bad-data', `${what} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (doc === null || typeof doc !== 'object' || doc.format !== CANDIDATES_FORMAT || doc.formatVersion !== 1) {
    throw new FlockError('bad-data', `${what} is not a ${CANDIDATES_FORMAT} file (format version 1)`);
  }
  if (doc.ids !== 'dense') throw new FlockError('bad-data', `${what}: ids must be "dense", got ${JSON.stringify(doc.ids)}`);
  const { users, items, origin } = doc;
  if (typeof users !== 'number' || typeof items !== 'number' || typeof doc.splitHash !== 'string' || !isOrigin(origin)) {
    throw new FlockError('bad-data', `${what}: missing or malformed users, items, splitHash or origin`);
  }
  const hash = splitHash(split, numItems);
  if (doc.splitHash !== hash) {
    throw new FlockError(
      'bad-data',
      `${what} belongs to another split (split hash ${doc.splitHash}, data set ${JSON.stringify(doc.dataset)}, ${users} users × ${items} items; ` +
        `this data set's split: ${hash}, ${split.train.length} × ${numItems})`,
    );
  }
  const lists = (which: 'test' | 'validation') => {
    const rows = doc[which];
    if (!Array.isArray(rows)) throw new FlockError('bad-data', `${what}: "${which}" must be a list of rows`);
    const heldOut = which === 'test' ? split.test : split.validation;
    const per: (Int32Array | null)[] = Array.from({ length: split.train.length }, () => null);
    for (const row of rows) {
      if (!Array.isArray(row) || row.length < 2 || !row.every((x) => Number.isInteger(x))) {
        throw new FlockError('bad-data', `${what}: a ${which} row must be [user, item, negatives…] of integers, got ${JSON.stringify(row).slice(0, 80)}`);
      }
      const [u, target] = row as number[];
      if (u < 0 || u >= split.train.length) throw new FlockError('bad-data', `${what}: ${which} row for user ${u}, outside [0, ${split.train.length})`);
      if (per[u]) throw new FlockError('bad-data', `${what}: two ${which} rows for user ${u}`);
      if (heldOut[u] !== target) {
        throw new FlockError('bad-data', `${what}: user ${u}'s ${which} item is ${target} in the file but ${heldOut[u]} in this split (another data set or split rule?)`);
      }
      per[u] = Int32Array.from(row.slice(2) as number[]);
    }
    for (let u = 0; u < split.train.length; u++) {
      if (heldOut[u] >= 0 && !per[u]) throw new FlockError('bad-data', `${what}: no ${which} row for user ${u}, who has a ${which} item`);
    }
    return packLists(per.map((l) => l ?? new Int32Array(0)));
  };
  const c: EvaluationCandidates = { numUsers: users, numItems: items, splitHash: hash, origin, test: lists('test'), validation: lists('validation') };
  checkCandidates(c, split, numItems, what);
  return c;
}

/** The file's split hash without reading the lists (to tell "another data set" from "damaged"). */
export function candidatesFileSplitHash(text: string): string | undefined {
  const m = /"splitHash"\s*:\s*"([0-9a-f]+)"/.exec(text.slice(0, 2000));
  return m?.[1];
}

function isOrigin(o: unknown): o is CandidatesOrigin {
  if (o === null || typeof o !== 'object') return false;
  const r = o as Record<string, unknown>;
  if (r.kind === 'sampled') return Number.isInteger(r.seed) && Number.isInteger(r.negatives);
  return false;
}
