/**
 * Leave-one-out evaluation of a model on both held-out items of a split:
 *
 * - validation: the validation item (second to last by time), scored from the train
 *   history, candidates = everything outside train. For model and round selection.
 * - test: the test item (last by time), scored from the history `testHistory` says:
 *   - 'train+validation' (default; the SASRec protocol, Kang & McAuley 2018): the model
 *     reads train ++ [validation item] — the validation item is never trained on, only
 *     read — and the validation item is excluded from the candidates like the train
 *     items (it is in the person's history). A model without a history input (MF: its
 *     user vector is trained on train only) gets the same candidates and negatives but
 *     cannot use the validation item.
 *   - 'train': the model reads train only and only train items are excluded, so a
 *     sequence model predicts two steps ahead (the protocol before issue 4).
 *
 * Both use evaluateRanking (100 sampled negatives, seeded per user, and full ranking).
 */
import type { UserSplit } from '../data/interactions.ts';
import { FlockError } from '../errors.ts';
import { evaluateRanking, type RankingReport } from './evaluate-ranking.ts';

export type TestHistory = 'train' | 'train+validation';

export const TEST_HISTORIES: readonly TestHistory[] = ['train+validation', 'train'];

export function parseTestHistory(v: string): TestHistory {
  if (v !== 'train' && v !== 'train+validation') throw new FlockError('bad-config', `test history must be train or train+validation, got "${v}"`);
  return v;
}

/** Per user: what the model reads (and what is never a candidate) when ranking the test item. */
export function testHistories(split: UserSplit, testHistory: TestHistory): readonly Int32Array[] {
  if (testHistory === 'train') return split.train;
  return split.train.map((items, u) => {
    const v = split.validation[u];
    if (v === undefined || v < 0) return items;
    const h = new Int32Array(items.length + 1);
    h.set(items);
    h[items.length] = v;
    return h;
  });
}

export interface SplitReport {
  readonly test: RankingReport;
  /** Users without a validation item are skipped (users = 0 when the split has none). */
  readonly validation: RankingReport;
}

export interface EvaluateSplitOptions {
  readonly numItems: number;
  readonly split: UserSplit;
  readonly seed: number;
  readonly testHistory?: TestHistory;
  /** Test histories precomputed with testHistories(split, testHistory) (saves the copies on every evaluation). */
  readonly histories?: readonly Int32Array[];
  /** Scores of every item for `user` after reading `history`. */
  readonly scoreAll: (user: number, history: Int32Array) => Float32Array;
  readonly k?: number;
  readonly negatives?: number;
}

export function evaluateSplit(o: EvaluateSplitOptions): SplitReport {
  const users = [...Array(o.split.train.length).keys()];
  const histories = o.histories ?? testHistories(o.split, o.testHistory ?? 'train+validation');
  const common = { numItems: o.numItems, users, seed: o.seed, k: o.k, negatives: o.negatives };
  const test = evaluateRanking({ ...common, heldOut: o.split.test, train: histories, scoreAll: (u) => o.scoreAll(u, histories[u]) });
  const validation = evaluateRanking({ ...common, heldOut: o.split.validation, train: o.split.train, scoreAll: (u) => o.scoreAll(u, o.split.train[u]) });
  return { test, validation };
}
