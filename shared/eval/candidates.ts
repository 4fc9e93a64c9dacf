/**
 * The fixed candidate lists of the sampled protocol (HR@K / NDCG@K against sampled
 * negatives, He et al., NCF 2017): per user, a list of negatives for the test item and
 * one for the validation item.
 *
 * Rules (the same for every model and every run on a data set):
 * - a negative is an item the person never interacted with: never a train item, never
 *   the validation item, never the test item (a known positive of the same person is
 *   not an error when it ranks above the target);
 * - the lists are a property of the DATA SET, not of a run: sampleCandidates draws them
 *   uniformly without replacement with a seed derived from the split's hash
 *   (shared/data/split-hash.ts), never from a run's `--seed`, so seed-to-seed
 *   differences are model noise only; the research CLI writes them once to
 *   `<out>/candidates.json` and reuses them (shared/eval/candidates-file.ts), or reads
 *   published lists (`--candidates`, e.g. NCF's ml-1m.test.negative,
 *   shared/data/ncf-candidates.ts);
 * - a user without a held-out item has an empty list; so does one with no item left.
 *
 * Lists are stored flat (offsets + items), so evaluation reads them without allocating.
 */
import type { UserSplit } from '../data/interactions.ts';
import { seedFromSplitHash, splitHash } from '../data/split-hash.ts';
import { FlockError } from '../errors.ts';
import { deriveSeed } from '../random/seeded-random.ts';
import { sampleNegatives } from './evaluate-ranking.ts';

/** Negatives per held-out item when the lists are sampled here. */
export const EVALUATION_NEGATIVES = 100;

/** One list per user: user u's list is items[offsets[u] .. offsets[u + 1]). */
export interface CandidateLists {
  readonly offsets: Int32Array;
  readonly items: Int32Array;
}

/** Where a set of candidate lists came from (recorded in report.json). */
export type CandidatesOrigin =
  | { readonly kind: 'sampled'; readonly seed: number; readonly negatives: number }
  | {
      readonly kind: 'ncf';
      /** How the file's ids were mapped to ours (see shared/data/ncf-candidates.ts). */
      readonly ids: 'ncf' | 'dense';
      /** Listed negatives left out because the person interacted with them (the test item included). */
      readonly droppedKnown: number;
      /** Listed negatives left out because they repeat an earlier one on the same line. */
      readonly droppedDuplicates: number;
      /** The validation lists (NCF has none) were sampled with this seed. */
      readonly validationSeed: number;
    };

export interface EvaluationCandidates {
  readonly numUsers: number;
  readonly numItems: number;
  /** splitHash of the split the lists belong to. */
  readonly splitHash: string;
  readonly origin: CandidatesOrigin;
  readonly test: CandidateLists;
  readonly validation: CandidateLists;
}

/** User u's list (a view, not a copy). */
export function candidatesOf(lists: CandidateLists, user: number): Int32Array {
  return lists.items.subarray(lists.offsets[user], lists.offsets[user + 1]);
}

/** Every item user u interacted with: train items, then the validation and test items when present. */
export function knownItems(split: UserSplit, user: number): Int32Array {
  const t = split.train[user];
  const v = split.validation[user];
  const x = split.test[user];
  const out = new Int32Array(t.length + (v >= 0 ? 1 : 0) + (x >= 0 ? 1 : 0));
  out.set(t);
  let n = t.length;
  if (v >= 0) out[n++] = v;
  if (x >= 0) out[n++] = x;
  return out;
}

/** Packs per-user lists into CandidateLists. */
export function packLists(lists: readonly ArrayLike<number>[]): CandidateLists {
  const offsets = new Int32Array(lists.length + 1);
  for (let u = 0; u < lists.length; u++) offsets[u + 1] = offsets[u] + lists[u].length;
  const items = new Int32Array(offsets[lists.length]);
  for (let u = 0; u < lists.length; u++) items.set(lists[u], offsets[u]);
  return { offsets, items };
}

/**
 * `negatives` items per user and held-out item, uniformly without replacement among the
 * items the person never interacted with; seeded by `seed` (default: derived from the
 * split's hash) — test list with deriveSeed(seed, user, 1), validation with
 * deriveSeed(seed, user, 2).
 */
export function sampleHeldOutLists(split: UserSplit, numItems: number, which: 'test' | 'validation', seed: number, negatives = EVALUATION_NEGATIVES): CandidateLists {
  const heldOut = which === 'test' ? split.test : split.validation;
  const stream = which === 'test' ? 1 : 2;
  const lists: Int32Array[] = [];
  for (let u = 0; u < split.train.length; u++) {
    lists.push(heldOut[u] >= 0 ? sampleNegatives(numItems, knownItems(split, u), negatives, deriveSeed(seed, u, stream)) : new Int32Array(0));
  }
  return packLists(lists);
}

/** The data set's own candidate lists: both held-out items, seed derived from the split (never a run's seed). */
export function sampleCandidates(split: UserSplit, numItems: number, negatives = EVALUATION_NEGATIVES): EvaluationCandidates {
  const hash = splitHash(split, numItems);
  const seed = seedFromSplitHash(hash);
  return {
    numUsers: split.train.length,
    numItems,
    splitHash: hash,
    origin: { kind: 'sampled', seed, negatives },
    test: sampleHeldOutLists(split, numItems, 'test', seed, negatives),
    validation: sampleHeldOutLists(split, numItems, 'validation', seed, negatives),
  };
}

/**
 * Refuses (FlockError 'bad-data', naming `what`) candidate lists that do not fit `split`:
 * another split hash or size, an item out of range, a negative the person interacted
 * with, a repeated negative, or a list for a user without that held-out item.
 */
export function checkCandidates(c: EvaluationCandidates, split: UserSplit, numItems: number, what = 'candidates'): void {
  const hash = splitHash(split, numItems);
  if (c.splitHash !== hash || c.numUsers !== split.train.length || c.numItems !== numItems) {
    throw new FlockError(
      'bad-data',
      `${what} belong to another split (split hash ${c.splitHash}, ${c.numUsers} users × ${c.numItems} items; ` +
        `this data set's split: ${hash}, ${split.train.length} × ${numItems}); make new ones for this data set or pass the right file`,
    );
  }
  const mark = new Uint8Array(numItems);
  for (const which of ['test', 'validation'] as const) {
    const lists = c[which];
    const heldOut = which === 'test' ? split.test : split.validation;
    if (lists.offsets.length !== split.train.length + 1) throw new FlockError('bad-data', `${what}: ${which} lists cover ${lists.offsets.length - 1} users, the split has ${split.train.length}`);
    for (let u = 0; u < split.train.length; u++) {
      const list = candidatesOf(lists, u);
      if (heldOut[u] < 0 && list.length > 0) throw new FlockError('bad-data', `${what}: user ${u} has no ${which} item but a ${which} list`);
      const known = knownItems(split, u);
      for (const i of known) mark[i] = 1;
      try {
        for (const i of list) {
          if (!(i >= 0 && i < numItems)) throw new FlockError('bad-data', `${what}: user ${u}'s ${which} list has item ${i}, outside [0, ${numItems})`);
          if (mark[i] === 1) throw new FlockError('bad-data', `${what}: user ${u}'s ${which} list has item ${i}, which the user interacted with (or repeats)`);
          mark[i] = 1;
        }
      } finally {
        for (const i of known) mark[i] = 0;
        for (const i of list) if (i >= 0 && i < numItems) mark[i] = 0;
      }
    }
  }
}
