/**
 * `flock attack membership`: the curious coordinator's membership attack, measured
 * (issue 11). One in-process MF run (membership-attack-round.ts) gives a round's client
 * updates; for each setting (membership-attack-views.ts: plain, secure aggregation with
 * cohorts of n, DP with and without secure aggregation) the coordinator scores every item
 * for every person of the round (shared/attack/membership-scores.ts) and we report the
 * AUC (shared/attack/membership-auc.ts, Mann–Whitney, ties ½) of telling the person's
 * interacted items from the rest, averaged over people, with its standard error.
 *
 * Ground truth per person k:
 * - members: the distinct items of k's training history — the data on the device, which
 *   its update trained on (positives);
 * - non-interacted: every item k never interacted with (not train, validation or test);
 *   this contains the negatives k's client sampled (4 per positive by default), whose
 *   rows ARE in k's update — the headline column;
 * - untouched: the non-interacted items whose rows are NOT in k's update (not sampled).
 * - stratified: members against non-interacted, counting only pairs in the same
 *   item-popularity bin (quantile bins of the training-data popularity): what the score
 *   knows beyond popularity. The 'popularity' prior row (score = training popularity,
 *   reads no update) shows what an attacker knows without any update.
 */
import type { Dataset, UserSplit } from '../../shared/data/interactions.ts';
import type { EvaluationCandidates } from '../../shared/eval/candidates.ts';
import { mannWhitneyAuc, stratifiedAuc } from '../../shared/attack/membership-auc.ts';
import { MEMBERSHIP_SCORES, membershipScores, type ItemRowsView } from '../../shared/attack/membership-scores.ts';
import { FlockError } from '../../shared/errors.ts';
import { planDp } from '../../shared/privacy/dp-plan.ts';
import { deriveSeed } from '../../shared/random/seeded-random.ts';
import { runAttackedRound, type AttackedRound, type CapturedUpdate } from './membership-attack-round.ts';
import { cohortsOf, dpReleaseView, plainView, secureAggregationView, type CoordinatorView } from './membership-attack-views.ts';
import type { SimulationConfig } from './simulation-config.ts';

export type AttackScore = (typeof MEMBERSHIP_SCORES)[number] | 'popularity';

/** 'all' = one cohort of the whole round. */
export type CohortSize = number | 'all';

export interface MembershipAttackOptions {
  /** The simulation whose last round is attacked (MF, no DP). */
  readonly sim: SimulationConfig;
  /** Secure-aggregation / DP cohort sizes n. */
  readonly cohorts: readonly CohortSize[];
  /** Target ε of the DP settings, each over `dpRounds` rounds at q = n / round size. */
  readonly epsilons: readonly number[];
  readonly dpRounds: number;
  /** δ of the DP plans (default 1 / population^1.1, dp-plan.ts). */
  readonly delta?: number;
  /** Popularity bins of the stratified AUC (default 20). */
  readonly popularityBins?: number;
  /**
   * The secure-aggregation sum of a cohort (default: computed directly: the value the
   * protocol decodes). `label` says which in the report.
   */
  readonly secureSum?: {
    readonly label: string;
    readonly sum: (updates: readonly CapturedUpdate[], members: readonly number[], numItems: number, dim: number) => Map<string, Float64Array>;
    /** Run it only for cohort sizes that make at most this many cohorts (the protocol's cost is per round); others are summed directly, labelled. */
    readonly maxCohorts?: number;
  };
}

/** Mean over people and its standard error (sd / √people). */
export interface MeanSe {
  readonly mean: number;
  readonly se: number;
}

export interface MembershipRow {
  /** 'plain' | 'secure-aggregation' | 'dp-no-secagg' | 'dp-release' | 'prior'. */
  readonly setting: string;
  /** Human-readable description of what the coordinator (or reader) receives. */
  readonly receives: string;
  readonly cohort: number | null;
  readonly epsilon: number | null;
  readonly noiseMultiplier: number | null;
  readonly score: AttackScore;
  /** Members vs every non-interacted item (headline). */
  readonly aucNonInteracted: MeanSe;
  /** Members vs the non-interacted items the update did not touch. */
  readonly aucUntouched: MeanSe;
  /** Members vs non-interacted, pairs within a popularity bin only. */
  readonly aucStratified: MeanSe;
  /** Whether this is the setting's best score (highest headline AUC): the strongest attacker of the table. */
  readonly best: boolean;
  readonly people: number;
}

export interface MembershipAttackResult {
  readonly round: number;
  readonly people: number;
  readonly numItems: number;
  readonly meanMembers: number;
  readonly meanTouchedNonMembers: number;
  readonly secureSum: string;
  readonly rows: readonly MembershipRow[];
  /** Test HR@10 / NDCG@10 (100 sampled negatives) of the initial model and of the model after the attacked round. */
  readonly model: { readonly initial: { hr10: number; ndcg10: number }; readonly afterAttackedRound: { hr10: number; ndcg10: number } };
  readonly seconds: { readonly training: number; readonly attack: number };
}

/** Per person: the member items and the non-interacted items (sorted ids). */
export interface MembershipTruth {
  readonly members: Int32Array;
  readonly nonInteracted: Int32Array;
}

export function membershipTruth(split: UserSplit, user: number, numItems: number): MembershipTruth {
  const interacted = new Uint8Array(numItems);
  const members = new Set<number>();
  for (const i of split.train[user]) {
    members.add(i);
    interacted[i] = 1;
  }
  if (split.validation[user] >= 0) interacted[split.validation[user]] = 1;
  if (split.test[user] >= 0) interacted[split.test[user]] = 1;
  const non: number[] = [];
  for (let i = 0; i < numItems; i++) if (!interacted[i]) non.push(i);
  return { members: Int32Array.from([...members].sort((a, b) => a - b)), nonInteracted: Int32Array.from(non) };
}

/** Quantile bins of the items' training popularity (equal counts share a bin). */
export function popularityBins(popularity: ArrayLike<number>, bins: number): Int32Array {
  const n = popularity.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => popularity[a] - popularity[b]);
  const bin = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const i = order[r];
    const prev = r > 0 ? order[r - 1] : -1;
    bin[i] = prev >= 0 && popularity[prev] === popularity[i] ? bin[prev] : Math.min(bins - 1, Math.floor((r * bins) / n));
  }
  return bin;
}

const meanSe = (xs: readonly number[]): MeanSe => {
  const v = xs.filter((x) => !Number.isNaN(x));
  if (v.length === 0) return { mean: NaN, se: NaN };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, se: sd / Math.sqrt(v.length) };
};

const pick = (scores: ArrayLike<number>, items: ArrayLike<number>) => Float64Array.from(items, (i) => scores[i]);

/** The three AUCs of one person under one item score. */
function personAucs(scores: Float64Array, truth: MembershipTruth, touched: Uint8Array, strata: Int32Array): [number, number, number] {
  const m = pick(scores, truth.members);
  const non = pick(scores, truth.nonInteracted);
  const untouchedItems = truth.nonInteracted.filter((i) => !touched[i]);
  return [
    mannWhitneyAuc(m, non).auc,
    mannWhitneyAuc(m, pick(scores, untouchedItems)).auc,
    stratifiedAuc(m, pick(strata, truth.members), non, pick(strata, truth.nonInteracted)).auc,
  ];
}

interface SettingSpec {
  readonly setting: string;
  readonly receives: string;
  readonly cohort: number | null;
  readonly epsilon: number | null;
  readonly noiseMultiplier: number | null;
  readonly view: CoordinatorView;
}

/**
 * Scores every person of `updates` under every item score from `view` and returns one row
 * per score (the best flagged). `scoreOf` maps a received view to an item score.
 */
export function attackRows(
  spec: Omit<SettingSpec, 'view'>,
  view: CoordinatorView,
  updates: readonly CapturedUpdate[],
  truths: readonly MembershipTruth[],
  strata: Int32Array,
  numItems: number,
  dim: number,
  scores: readonly AttackScore[],
  popularity: Float64Array,
): MembershipRow[] {
  const per = scores.map(() => ({ non: [] as number[], untouched: [] as number[], strat: [] as number[] }));
  const touched = new Uint8Array(numItems);
  for (let k = 0; k < updates.length; k++) {
    const rows = updates[k].itemBias.rows;
    for (const r of rows) touched[r] = 1;
    const received: ItemRowsView = view.viewOf(k);
    scores.forEach((s, j) => {
      const itemScores = s === 'popularity' ? popularity : membershipScores(received, numItems, dim, s);
      const [a, b, c] = personAucs(itemScores, truths[k], touched, strata);
      per[j].non.push(a);
      per[j].untouched.push(b);
      per[j].strat.push(c);
    });
    for (const r of rows) touched[r] = 0;
  }
  const rows = scores.map((score, j) => ({
    ...spec,
    score,
    aucNonInteracted: meanSe(per[j].non),
    aucUntouched: meanSe(per[j].untouched),
    aucStratified: meanSe(per[j].strat),
    best: false,
    people: updates.length,
  }));
  const best = rows.reduce((b, r, j) => (r.aucNonInteracted.mean > rows[b].aucNonInteracted.mean ? j : b), 0);
  return rows.map((r, j) => ({ ...r, best: j === best }));
}

/** Items' training popularity: how many people have the item in their training history. */
export function trainPopularity(split: UserSplit, numItems: number): Float64Array {
  const pop = new Float64Array(numItems);
  for (const t of split.train) for (const i of new Set(t)) pop[i]++;
  return pop;
}

/** Runs the simulation, captures its last round and measures the attack in every setting. */
export async function runMembershipAttack(dataset: Dataset, split: UserSplit, o: MembershipAttackOptions, candidates?: EvaluationCandidates, log: (line: string) => void = () => {}): Promise<MembershipAttackResult> {
  if (!(Number.isInteger(o.dpRounds) && o.dpRounds >= 1)) throw new FlockError('bad-config', `--dp-rounds must be a positive integer, got ${o.dpRounds}`);
  for (const e of o.epsilons) if (!(Number.isFinite(e) && e > 0)) throw new FlockError('bad-config', `--epsilons must be positive numbers, got ${e}`);
  const round: AttackedRound = await runAttackedRound(dataset, split, o.sim, candidates);
  log(`trained ${round.round} rounds in ${round.seconds.toFixed(1)} s; attacking round ${round.round} (${round.updates.length} updates)`);
  return attackRound(dataset, split, round, o, log);
}

/** The attack on an already captured round (every setting, every score). */
export function attackRound(dataset: Dataset, split: UserSplit, round: AttackedRound, o: MembershipAttackOptions, log: (line: string) => void = () => {}): MembershipAttackResult {
  const t0 = performance.now();
  const { numItems } = dataset;
  const dim = o.sim.dim;
  const updates = round.updates;
  const N = updates.length;
  if (N === 0) throw new FlockError('bad-config', 'the attacked round has no updates');
  const truths = updates.map((u) => membershipTruth(split, u.user, numItems));
  const popularity = trainPopularity(split, numItems);
  const strata = popularityBins(popularity, o.popularityBins ?? 20);
  const updateScores: AttackScore[] = [...MEMBERSHIP_SCORES];
  const rows: MembershipRow[] = [];
  const add = (spec: SettingSpec) => {
    const t = performance.now();
    rows.push(...attackRows(spec, spec.view, updates, truths, strata, numItems, dim, updateScores, popularity));
    log(`${spec.setting}${spec.cohort ? ` n=${spec.cohort}` : ''}${spec.epsilon ? ` ε=${spec.epsilon}` : ''}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  };
  const none = { cohort: null, epsilon: null, noiseMultiplier: null };
  rows.push(...attackRows({ setting: 'prior', receives: 'nothing from the round: item popularity in the training data (an oracle prior)', ...none }, plainView(updates), updates, truths, strata, numItems, dim, ['popularity'], popularity));
  const plain = plainView(updates);
  add({ setting: 'plain', receives: "each person's own clipped update", ...none, view: plain });
  const directLabel = 'sum computed directly (the value the protocol decodes)';
  const labels = new Set<string>();
  const sizes = o.cohorts.map((c) => (c === 'all' ? N : c));
  for (const n of sizes) {
    const cohorts = cohortsOf(N, n, deriveSeed(o.sim.seed, n, 0x5ec));
    const protocol = o.secureSum && cohorts.length <= (o.secureSum.maxCohorts ?? Infinity) ? o.secureSum : undefined;
    const sum = protocol ? (members: readonly number[]) => protocol.sum(updates, members, numItems, dim) : undefined;
    const label = protocol ? protocol.label : directLabel;
    labels.add(`n = ${n}: ${label}`);
    add({ setting: 'secure-aggregation', receives: `the sum of the person's cohort of ${n} (${label})`, cohort: n, epsilon: null, noiseMultiplier: null, view: secureAggregationView(updates, cohorts, numItems, dim, sum) });
  }
  const secureLabel = [...labels].join('; ');
  for (const epsilon of o.epsilons) {
    // DP's noise is added after the coordinator read the individual updates: the same view as plain.
    rows.push(
      ...rows
        .filter((r) => r.setting === 'plain')
        .map((r) => ({ ...r, setting: 'dp-no-secagg', receives: `DP ε=${epsilon}, no secure aggregation: the individual clipped updates (noise is added after the coordinator read them; identical to plain)`, epsilon })),
    );
    for (const n of sizes) {
      const plan = planDp({ targetEpsilon: epsilon, rounds: o.dpRounds, samplingRate: n / N, population: N, delta: o.delta });
      const cohorts = cohortsOf(N, n, deriveSeed(o.sim.seed, n, 0x5ec));
      add({
        setting: 'dp-release',
        receives: `DP ε=${epsilon} (${o.dpRounds} rounds at q = ${(n / N).toPrecision(3)}, δ = ${plan.delta.toExponential(2)}): the released noised mean of the cohort of ${n}, (Σ Δ + N(0,(zC)²))/${n}`,
        cohort: n,
        epsilon,
        noiseMultiplier: plan.noiseMultiplier,
        view: dpReleaseView(updates, cohorts, numItems, dim, { noiseMultiplier: plan.noiseMultiplier, clipNorm: o.sim.clipNorm, expectedCohort: n, seed: deriveSeed(o.sim.seed, n, Math.round(epsilon * 1000), 0xd9) }),
      });
    }
  }
  const initial = round.evaluations[0];
  const final = round.evaluations[round.evaluations.length - 1];
  let touchedNon = 0;
  for (let k = 0; k < N; k++) touchedNon += updates[k].itemBias.rows.length - truths[k].members.length;
  return {
    round: round.round,
    people: N,
    numItems,
    meanMembers: truths.reduce((a, t) => a + t.members.length, 0) / N,
    meanTouchedNonMembers: touchedNon / N,
    secureSum: secureLabel,
    rows,
    model: { initial: initial.sampled, afterAttackedRound: final.sampled },
    seconds: { training: round.seconds, attack: (performance.now() - t0) / 1000 },
  };
}
