/**
 * Leave-one-out evaluation of a model on both held-out items of a split
 * (shared/data/leave-one-out.ts: last interaction by (timestamp, item id) = test, the one
 * before = validation, the rest = train):
 *
 * - validation: the validation item, scored from the train history. For model and round
 *   selection.
 * - test: the test item, scored from the history `testHistory` says:
 *   - 'train+validation' (default; the SASRec protocol, Kang & McAuley 2018): the model
 *     reads train ++ [validation item] — read, never trained on. A sequence model reads
 *     it as input; MF folds it into the person's user vector first, as the browser does
 *     before recommending (shared/train/fold-in.ts, coordinator/simulation/evaluate-mf.ts).
 *   - 'train': the model reads train only (a sequence model predicts two steps ahead; MF
 *     scores with its user vector as trained).
 *
 * Candidates, the same for both held-out items and both test histories:
 * - sampled: the target against the user's fixed list of negatives for that item
 *   (shared/eval/candidates.ts: items the person never interacted with, fixed per data
 *   set, independent of any run's seed);
 * - full ranking: the target against every item the person never interacted with. The
 *   other held-out item is removed (it is a known positive of the same person: ranking
 *   it above the target is not an error), as are the train items.
 */
import type { UserSplit } from '../data/interactions.ts';
import { FlockError } from '../errors.ts';
import { candidatesOf, checkCandidates, knownItems, sampleCandidates, type EvaluationCandidates } from './candidates.ts';
import { evaluateRanking, type RankingReport } from './evaluate-ranking.ts';

export type TestHistory = 'train' | 'train+validation';

export const TEST_HISTORIES: readonly TestHistory[] = ['train+validation', 'train'];

export function parseTestHistory(v: string): TestHistory {
  if (v !== 'train' && v !== 'train+validation') throw new FlockError('bad-config', `test history must be train or train+validation, got "${v}"`);
  return v;
}

/** Per user: what the model reads when ranking the test item. */
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

/** Everything an evaluation of one run needs besides the model, computed once per run. */
export interface EvaluationSetup {
  readonly numItems: number;
  readonly split: UserSplit;
  readonly testHistory: TestHistory;
  /** Per user: what the model reads before the test item (testHistories). */
  readonly histories: readonly Int32Array[];
  /** Per user: every item the person interacted with, never a candidate (besides the target). */
  readonly known: readonly Int32Array[];
  readonly candidates: EvaluationCandidates;
}

/**
 * The evaluation of a split: `candidates` (checked against the split) or else the data
 * set's own (sampleCandidates: seeded from the split, so every run on it gets the same).
 */
export function prepareEvaluation(split: UserSplit, numItems: number, opts: { testHistory?: TestHistory; candidates?: EvaluationCandidates } = {}): EvaluationSetup {
  const testHistory = opts.testHistory ?? 'train+validation';
  const candidates = opts.candidates ?? sampleCandidates(split, numItems);
  if (opts.candidates) checkCandidates(candidates, split, numItems);
  return {
    numItems,
    split,
    testHistory,
    histories: testHistories(split, testHistory),
    known: split.train.map((_, u) => knownItems(split, u)),
    candidates,
  };
}

export interface SplitReport {
  readonly test: RankingReport;
  /** Users without a validation item are skipped (users = 0 when the split has none). */
  readonly validation: RankingReport;
}

/** Which held-out item a score is for. */
export type HeldOutKind = 'test' | 'validation';

export interface EvaluateSplitOptions {
  readonly setup: EvaluationSetup;
  /** Scores of every item for `user` after reading `history`, when ranking the `heldOut` item. */
  readonly scoreAll: (user: number, history: Int32Array, heldOut: HeldOutKind) => Float32Array;
  readonly k?: number;
}

export function evaluateSplit(o: EvaluateSplitOptions): SplitReport {
  const { setup } = o;
  const { split, histories, known, candidates, numItems } = setup;
  const users = [...Array(split.train.length).keys()];
  const common = { numItems, users, k: o.k, train: known };
  const test = evaluateRanking({
    ...common,
    heldOut: split.test,
    candidates: (u) => candidatesOf(candidates.test, u),
    scoreAll: (u) => o.scoreAll(u, histories[u], 'test'),
  });
  const validation = evaluateRanking({
    ...common,
    heldOut: split.validation,
    candidates: (u) => candidatesOf(candidates.validation, u),
    scoreAll: (u) => o.scoreAll(u, split.train[u], 'validation'),
  });
  return { test, validation };
}
