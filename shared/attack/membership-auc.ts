/**
 * The AUC of a membership attack: how well a score tells a person's interacted items
 * ("members") from the rest. The Mann–Whitney U statistic over all (member, non-member)
 * pairs (Mann & Whitney 1947; Hanley & McNeil 1982, "The meaning and use of the area
 * under a ROC curve"):
 *
 *     AUC = (#pairs the member scores higher + ½ · #pairs that tie) / (#members · #non-members)
 *
 * computed from midranks (ties share the mean of their ranks), O((P + N) log(P + N)).
 * 0.5 = no better than a coin; 1.0 = every member above every non-member.
 *
 * `stratifiedAuc` counts only pairs within the same stratum (e.g. an item-popularity
 * bin) and pools them: U summed over strata / pairs summed over strata. An attacker who
 * knows only the strata (only popularity) scores 0.5 on it by construction, so it
 * measures what a score adds beyond that prior.
 */
import { FlockError } from '../errors.ts';

export interface AucResult {
  /** U / pairs; NaN when there are no pairs. */
  readonly auc: number;
  /** Mann–Whitney U: pairs the member wins, ties counted ½. */
  readonly u: number;
  /** Number of (member, non-member) pairs compared. */
  readonly pairs: number;
}

function checkScores(scores: ArrayLike<number>, what: string): void {
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new FlockError('bad-data', `membership AUC: ${what} score ${i} is NaN`);
  }
}

/** Mann–Whitney U of members against non-members, ties ½ (midranks). */
export function mannWhitneyAuc(members: ArrayLike<number>, nonMembers: ArrayLike<number>): AucResult {
  checkScores(members, 'member');
  checkScores(nonMembers, 'non-member');
  const p = members.length;
  const n = nonMembers.length;
  const pairs = p * n;
  if (pairs === 0) return { auc: NaN, u: 0, pairs: 0 };
  const all = new Float64Array(p + n);
  for (let i = 0; i < p; i++) all[i] = members[i];
  for (let i = 0; i < n; i++) all[p + i] = nonMembers[i];
  const order = Uint32Array.from({ length: p + n }, (_, i) => i).sort((a, b) => all[a] - all[b]);
  // Sum of the members' midranks (ranks 1-based).
  let memberRanks = 0;
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && all[order[end]] === all[order[start]]) end++;
    const midrank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) if (order[k] < p) memberRanks += midrank;
    start = end;
  }
  const u = memberRanks - (p * (p + 1)) / 2;
  return { auc: u / pairs, u, pairs };
}

/**
 * The AUC over pairs within the same stratum only, pooled: Σ_s U_s / Σ_s pairs_s.
 * `memberStrata[i]` / `nonMemberStrata[j]` are non-negative integer stratum ids.
 */
export function stratifiedAuc(
  members: ArrayLike<number>,
  memberStrata: ArrayLike<number>,
  nonMembers: ArrayLike<number>,
  nonMemberStrata: ArrayLike<number>,
): AucResult {
  if (members.length !== memberStrata.length || nonMembers.length !== nonMemberStrata.length) {
    throw new FlockError('bad-data', 'membership AUC: every score needs its stratum (lengths differ)');
  }
  const byStratum = new Map<number, { m: number[]; n: number[] }>();
  const bucket = (s: number) => {
    if (!(Number.isInteger(s) && s >= 0)) throw new FlockError('bad-data', `membership AUC: stratum ids must be non-negative integers, got ${s}`);
    let b = byStratum.get(s);
    if (!b) byStratum.set(s, (b = { m: [], n: [] }));
    return b;
  };
  for (let i = 0; i < members.length; i++) bucket(memberStrata[i]).m.push(members[i]);
  for (let j = 0; j < nonMembers.length; j++) bucket(nonMemberStrata[j]).n.push(nonMembers[j]);
  let u = 0;
  let pairs = 0;
  for (const b of byStratum.values()) {
    const r = mannWhitneyAuc(b.m, b.n);
    u += r.u;
    pairs += r.pairs;
  }
  return { auc: pairs > 0 ? u / pairs : NaN, u, pairs };
}
