/**
 * Published candidate lists in the NCF format (He et al. 2017, github.com/hexiangnan/
 * neural_collaborative_filtering: `ml-1m.test.negative`), one line per user:
 *
 *   (user,item)\tneg1\tneg2\t…        (0-based ids; 99 negatives in the published files)
 *
 * The id mapping is explicit (`ids`):
 * - 'ncf' (default for these files): users and items are numbered 0, 1, 2, … in order of
 *   FIRST APPEARANCE in the ratings file — how the NCF data were made (pandas `unique()`
 *   order; the maintainers' "hashes the item id … to [0, N-1]", NCF issue #4). For ML-1M
 *   (ratings.dat is sorted by user) the user id is the raw id − 1; the item id is not the
 *   raw id − 1. It needs the interactions in file order, which Flock's loaders keep.
 * - 'dense': the file uses Flock's own ids (users and items in sorted raw-id order,
 *   0-based: ML-100K raw id − 1; ML-1M users raw id − 1, items the rank of the raw id
 *   among the rated movies).
 *
 * The file's (user,item) pairs must be exactly this split's test items
 * (shared/data/leave-one-out.ts): a file that disagrees on any user — another data set,
 * another id mapping, another tie rule — is refused with FlockError('bad-data') saying
 * how many pairs differ, how many of those are same-timestamp ties, and how many would
 * differ under the other mapping. Every user with a test item needs a line.
 *
 * Listed negatives the person interacted with (NCF's lists were drawn outside NCF's
 * train set, which includes our validation item; the published ml-1m file also lists
 * some users' own test item, NCF issue #81) and repeats within a line are dropped and
 * counted (origin.droppedKnown / droppedDuplicates), so the rule "a negative is an item
 * the person never interacted with" holds for every source. NCF has no validation
 * lists: those are sampled as for Flock's own candidates (seed from the split).
 */
import { FlockError } from '../errors.ts';
import { knownItems, packLists, sampleHeldOutLists, type EvaluationCandidates } from '../eval/candidates.ts';
import type { Dataset, UserSplit } from './interactions.ts';
import { seedFromSplitHash, splitHash } from './split-hash.ts';

export type NcfIdMapping = 'ncf' | 'dense';

export function parseNcfIdMapping(v: string): NcfIdMapping {
  if (v !== 'ncf' && v !== 'dense') throw new FlockError('bad-config', `candidate ids must be ncf or dense, got "${v}"`);
  return v;
}

/** Whether `text` looks like an NCF test.negative file (its first non-blank line starts with "(user,item)"). */
export function isNcfNegativeFile(text: string): boolean {
  return /^\s*\(\s*\d+\s*,\s*\d+\s*\)/.test(text);
}

/** NCF id → Flock dense id, for users and items: -1 past the end. */
export interface IdMaps {
  readonly users: Int32Array;
  readonly items: Int32Array;
}

/** The maps of a mapping: 'ncf' = order of first appearance in dataset.interactions; 'dense' = identity. */
export function ncfIdMaps(dataset: Dataset, ids: NcfIdMapping): IdMaps {
  if (ids === 'dense') {
    return { users: Int32Array.from({ length: dataset.numUsers }, (_, u) => u), items: Int32Array.from({ length: dataset.numItems }, (_, i) => i) };
  }
  const users = new Int32Array(dataset.numUsers).fill(-1);
  const items = new Int32Array(dataset.numItems).fill(-1);
  const seenU = new Uint8Array(dataset.numUsers);
  const seenI = new Uint8Array(dataset.numItems);
  let nu = 0;
  let ni = 0;
  for (const it of dataset.interactions) {
    if (seenU[it.user] === 0) {
      seenU[it.user] = 1;
      users[nu++] = it.user;
    }
    if (seenI[it.item] === 0) {
      seenI[it.item] = 1;
      items[ni++] = it.item;
    }
  }
  return { users, items };
}

interface NcfLine {
  readonly lineNo: number;
  readonly user: number;
  readonly item: number;
  readonly negatives: number[];
}

function parseLines(text: string, what: string): NcfLine[] {
  const out: NcfLine[] = [];
  const all = text.split('\n');
  for (let i = 0; i < all.length; i++) {
    const line = all[i].trim();
    if (line === '') continue;
    const m = /^\(\s*(\d+)\s*,\s*(\d+)\s*\)(.*)$/.exec(line);
    if (!m) throw new FlockError('bad-data', `${what} line ${i + 1}: expected "(user,item)" then negatives separated by tabs`);
    const rest = m[3].trim();
    const negatives = rest === '' ? [] : rest.split(/\s+/).map(Number);
    if (negatives.some((n) => !Number.isInteger(n) || n < 0)) throw new FlockError('bad-data', `${what} line ${i + 1}: negatives must be non-negative integers`);
    out.push({ lineNo: i + 1, user: Number(m[1]), item: Number(m[2]), negatives });
  }
  return out;
}

/** How many lines' (user,item) differ from the split's test items under `maps` (-1: some id is out of range). */
function countMismatches(lines: readonly NcfLine[], maps: IdMaps, split: UserSplit): number {
  let n = 0;
  for (const l of lines) {
    const u = maps.users[l.user] ?? -1;
    const i = maps.items[l.item] ?? -1;
    if (u < 0 || i < 0) return -1;
    if (split.test[u] !== i) n++;
  }
  return n;
}

export interface NcfCandidatesOptions {
  readonly ids?: NcfIdMapping;
  /** Names the file in errors. */
  readonly what?: string;
}

/** Reads an NCF test.negative file as the test lists of `split` (validation lists sampled); refuses a file that does not match. */
export function parseNcfCandidates(text: string, dataset: Dataset, split: UserSplit, opts: NcfCandidatesOptions = {}): EvaluationCandidates {
  const ids = opts.ids ?? 'ncf';
  const what = opts.what ?? 'NCF candidates file';
  const numItems = dataset.numItems;
  const lines = parseLines(text, what);
  const maps = ncfIdMaps(dataset, ids);
  const idName = ids === 'ncf' ? "'ncf' ids (order of first appearance in the ratings file)" : "'dense' ids (Flock's: sorted raw ids, 0-based)";

  const lineOf = new Int32Array(split.train.length).fill(-1);
  const mismatched: { line: NcfLine; user: number; item: number }[] = [];
  for (let k = 0; k < lines.length; k++) {
    const l = lines[k];
    const u = maps.users[l.user] ?? -1;
    const i = maps.items[l.item] ?? -1;
    if (u < 0) throw new FlockError('bad-data', `${what} line ${l.lineNo}: user ${l.user} does not exist under ${idName} (${dataset.numUsers} users)`);
    if (i < 0) throw new FlockError('bad-data', `${what} line ${l.lineNo}: item ${l.item} does not exist under ${idName} (${numItems} items)`);
    if (lineOf[u] >= 0) throw new FlockError('bad-data', `${what} line ${l.lineNo}: a second line for user ${l.user}`);
    lineOf[u] = k;
    if (split.test[u] !== i) mismatched.push({ line: l, user: u, item: i });
  }
  if (mismatched.length > 0) {
    // Same-timestamp ties: the file's item was rated in the same second as our test item.
    const latest = new Map<number, Map<number, number>>();
    for (const m of mismatched) latest.set(m.user, new Map());
    for (const it of dataset.interactions) {
      const per = latest.get(it.user);
      if (per) per.set(it.item, Math.max(per.get(it.item) ?? -Infinity, it.timestamp));
    }
    let ties = 0;
    for (const m of mismatched) {
      const per = latest.get(m.user)!;
      const ours = split.test[m.user];
      if (ours >= 0 && per.has(m.item) && per.get(m.item) === per.get(ours)) ties++;
    }
    const other = countMismatches(lines, ncfIdMaps(dataset, ids === 'ncf' ? 'dense' : 'ncf'), split);
    const ex = mismatched
      .slice(0, 3)
      .map((m) => `line ${m.line.lineNo} (${m.line.user},${m.line.item}) = user ${m.user}, item ${m.item} "${dataset.titles[m.item] ?? ''}"; our test item is ${split.test[m.user]} "${dataset.titles[split.test[m.user]] ?? ''}"`)
      .join('; ');
    throw new FlockError(
      'bad-data',
      `${what}: ${mismatched.length} of ${lines.length} (user,item) test pairs differ from this split's test items under ${idName} ` +
        `(${ties} of them are same-timestamp ties, which this split orders by item id; ` +
        `${other < 0 ? 'the other mapping does not fit the ids at all' : `under the other mapping ${other} would differ`}). e.g. ${ex}. ` +
        'Refusing to rank against lists made for other test items.',
    );
  }
  const missing: number[] = [];
  for (let u = 0; u < split.train.length; u++) if (split.test[u] >= 0 && lineOf[u] < 0) missing.push(u);
  if (missing.length > 0) {
    throw new FlockError('bad-data', `${what}: no line for ${missing.length} users who have a test item in this split (e.g. Flock user ${missing[0]})`);
  }

  let droppedKnown = 0;
  let droppedDuplicates = 0;
  const mark = new Uint8Array(numItems); // 1 = known positive, 2 = already listed
  const lists: Int32Array[] = [];
  for (let u = 0; u < split.train.length; u++) {
    if (lineOf[u] < 0) {
      lists.push(new Int32Array(0));
      continue;
    }
    const l = lines[lineOf[u]];
    const known = knownItems(split, u);
    for (const i of known) mark[i] = 1;
    const kept: number[] = [];
    for (const raw of l.negatives) {
      const i = maps.items[raw] ?? -1;
      if (i < 0) throw new FlockError('bad-data', `${what} line ${l.lineNo}: negative ${raw} does not exist under ${idName}`);
      if (mark[i] === 1) droppedKnown++;
      else if (mark[i] === 2) droppedDuplicates++;
      else {
        mark[i] = 2;
        kept.push(i);
      }
    }
    for (const i of known) mark[i] = 0;
    for (const i of kept) mark[i] = 0;
    lists.push(Int32Array.from(kept));
  }
  const hash = splitHash(split, numItems);
  const seed = seedFromSplitHash(hash);
  const test = packLists(lists);
  return {
    numUsers: split.train.length,
    numItems,
    splitHash: hash,
    origin: { kind: 'ncf', ids, droppedKnown, droppedDuplicates, validationSeed: seed },
    test,
    validation: sampleHeldOutLists(split, numItems, 'validation', seed),
  };
}
