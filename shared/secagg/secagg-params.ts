/**
 * The parameters of one secure-aggregation round (Bonawitz et al. 2017, "Practical Secure
 * Aggregation for Privacy-Preserving Machine Learning", CCS; sparse graph of SecAgg+,
 * Bell et al. 2020, "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead",
 * CCS). The coordinator builds them once with buildSecAggParams and sends them in the
 * round announcement; every client checks them (checkSecAggParams) before taking part.
 *
 * - `neighbours` k: each participant exchanges keys, shares and masks with k others
 *   (a Harary graph, neighbour-graph.ts), so a client's cost is O(k · vectorLength) and
 *   the round's O(n · k). k = n − 1 is the complete graph of Bonawitz et al.
 * - `threshold` t: a secret is shared t-of-k among the owner's neighbours. t > k/2, so
 *   no two disjoint halves of a neighbourhood can both reconstruct: a coordinator that
 *   tells half of u's neighbours "u dropped" and the other half "u survived" cannot get
 *   both u's mask key and u's self-mask (README.md, "What a malicious coordinator can do").
 * - the ring Z_{2^ringBits} and `scale` (fixed-point-ring.ts): coordinates in
 *   [−clipBound, clipBound], `maxSummands` of them never wrap.
 */
import { SecAggError } from './secagg-error.ts';

export interface SecAggParams {
  /** Binds every derived key, every encrypted share and the graph to this round (e.g. "run-id/round-17/v16"). */
  readonly context: string;
  /** The round's participant ids, sorted (code-unit order) and distinct; the order decides mask signs and Shamir x-coordinates. */
  readonly participants: readonly string[];
  /** k: neighbours per participant; n − 1 (complete graph) or an even number < n − 1. */
  readonly neighbours: number;
  /** t: shares needed to reconstruct a secret; ⌊k/2⌋ + 1 ≤ t ≤ k. */
  readonly threshold: number;
  /** Length of the update vector every participant masks. */
  readonly vectorLength: number;
  /** The ring is Z_{2^ringBits}, 8 ≤ ringBits ≤ 32; masked words travel as 32-bit little-endian words. */
  readonly ringBits: number;
  /** Every coordinate of a (clipped) update lies in [−clipBound, clipBound]. */
  readonly clipBound: number;
  /** Most summands the decoded sum may hold without wrapping (the participant count). */
  readonly maxSummands: number;
  /** Fixed-point scale: a coordinate x is encoded as round(x · scale); = fixedPointScale(clipBound, maxSummands, ringBits). */
  readonly scale: number;
}

export interface SecAggParamsInput {
  readonly context: string;
  readonly participants: readonly string[];
  readonly vectorLength: number;
  readonly clipBound: number;
  /** Expected fraction of participants that drop during the round; picks k (default 0.1). */
  readonly dropoutFraction?: number;
  /** Override k (rounded up to even when below n − 1; capped at n − 1). */
  readonly neighbours?: number;
  /** Override t (default ⌊k/2⌋ + 1). */
  readonly threshold?: number;
  readonly ringBits?: number;
}

export const SECAGG_PROTOCOL = 'flock-secagg/v1';
export const DEFAULT_RING_BITS = 32;
export const DEFAULT_SECAGG_DROPOUT_FRACTION = 0.1;
/** Per-round probability, at the expected dropout rate, that some neighbourhood loses more than k − t members. */
export const SECAGG_GRAPH_FAILURE_PROBABILITY = 1e-3;
const MIN_PARTICIPANTS = 2;
const MAX_CONTEXT_CHARS = 256;

/**
 * The fixed-point scale: the largest integer magnitude R with maxSummands · R ≤ 2^(ringBits−1) − 1,
 * so the sum of maxSummands encodings in [−R, R] never wraps, divided by the clip bound.
 */
export function fixedPointScale(clipBound: number, maxSummands: number, ringBits: number): number {
  const range = Math.floor((2 ** (ringBits - 1) - 1) / maxSummands);
  if (!(range >= 1)) throw new SecAggError('bad-params', `a ring of ${ringBits} bits cannot hold the sum of ${maxSummands} encodings; use more ring bits or fewer participants`);
  return range / clipBound;
}

/** t = ⌊k/2⌋ + 1: the smallest majority of a neighbourhood. */
export function defaultThreshold(neighbours: number): number {
  return Math.floor(neighbours / 2) + 1;
}

/** P(Binomial(k, p) ≥ m), summed exactly in log space. */
function binomialTail(k: number, p: number, m: number): number {
  if (m <= 0) return 1;
  if (p <= 0) return 0;
  let logC = 0; // log C(k, 0)
  let total = 0;
  for (let j = 0; j <= k; j++) {
    if (j > 0) logC += Math.log(k - j + 1) - Math.log(j);
    if (j >= m) total += Math.exp(logC + j * Math.log(p) + (k - j) * Math.log1p(-p));
  }
  return total;
}

/**
 * k for n participants at an expected dropout fraction: the smallest even k ≥ 2⌈log2 n⌉
 * (or n − 1) such that, with t = ⌊k/2⌋ + 1 and each participant dropping independently with that
 * probability, the union bound n · P(more than k − t of one neighbourhood drop) is at
 * most SECAGG_GRAPH_FAILURE_PROBABILITY. The 2⌈log2 n⌉ floor keeps the graph an
 * expander even without dropouts (Bell et al.: k = Ω(log n) for connectivity and against
 * colluding neighbours). It grows like log n (Bell et al. 2020, Thm 4.x:
 * k = O(log n) for a constant dropout rate).
 */
export function chooseNeighbours(participants: number, dropoutFraction = DEFAULT_SECAGG_DROPOUT_FRACTION): number {
  if (!(Number.isFinite(dropoutFraction) && dropoutFraction >= 0 && dropoutFraction < 0.5)) {
    throw new SecAggError('bad-params', `dropout fraction must be in [0, 0.5) (the threshold is a majority of each neighbourhood), got ${dropoutFraction}`);
  }
  const complete = participants - 1;
  for (let k = 2 * Math.ceil(Math.log2(participants)); k < complete; k += 2) {
    const t = defaultThreshold(k);
    if (participants * binomialTail(k, dropoutFraction, k - t + 1) <= SECAGG_GRAPH_FAILURE_PROBABILITY) return k;
  }
  return complete;
}

/** The params the coordinator announces; throws SecAggError('bad-params') on anything out of range. */
export function buildSecAggParams(input: SecAggParamsInput): SecAggParams {
  const participants = [...input.participants].sort(compareIds);
  const n = participants.length;
  if (n < MIN_PARTICIPANTS) throw new SecAggError('bad-params', `needs at least ${MIN_PARTICIPANTS} participants, got ${n}`);
  let k = input.neighbours ?? chooseNeighbours(n, input.dropoutFraction);
  if (k >= n - 1) k = n - 1;
  else if (k % 2 === 1) k += 1;
  if (k >= n - 1) k = n - 1;
  const ringBits = input.ringBits ?? DEFAULT_RING_BITS;
  const params: SecAggParams = {
    context: input.context,
    participants,
    neighbours: k,
    threshold: input.threshold ?? defaultThreshold(k),
    vectorLength: input.vectorLength,
    ringBits,
    clipBound: input.clipBound,
    maxSummands: n,
    scale: Number.isInteger(ringBits) && ringBits >= 8 && ringBits <= 32 && input.clipBound > 0 ? fixedPointScale(input.clipBound, n, ringBits) : NaN,
  };
  checkSecAggParams(params);
  return params;
}

/** Code-unit order, the one order every client and the server sort ids by. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Refuses (SecAggError 'bad-params') params a client must not take part in. */
export function checkSecAggParams(p: SecAggParams): void {
  const bad = (m: string) => {
    throw new SecAggError('bad-params', m);
  };
  if (typeof p.context !== 'string' || p.context.length === 0 || p.context.length > MAX_CONTEXT_CHARS) bad(`context must be 1–${MAX_CONTEXT_CHARS} characters`);
  const n = p.participants.length;
  if (n < MIN_PARTICIPANTS) bad(`needs at least ${MIN_PARTICIPANTS} participants, got ${n}`);
  for (let i = 1; i < n; i++) if (compareIds(p.participants[i - 1], p.participants[i]) >= 0) bad('participants must be sorted and distinct');
  const k = p.neighbours;
  if (!Number.isInteger(k) || k < 1 || k > n - 1 || (k < n - 1 && k % 2 === 1)) bad(`neighbours must be n − 1 = ${n - 1} or an even number below it, got ${k}`);
  if (!Number.isInteger(p.threshold) || p.threshold < defaultThreshold(k) || p.threshold > k) bad(`threshold must be a majority of the ${k} neighbours (${defaultThreshold(k)}…${k}), got ${p.threshold}`);
  if (!Number.isInteger(p.vectorLength) || p.vectorLength < 1 || p.vectorLength > 1 << 26) bad(`vector length must be an integer in 1…2^26, got ${p.vectorLength}`);
  if (!Number.isInteger(p.ringBits) || p.ringBits < 8 || p.ringBits > 32) bad(`ring bits must be an integer in 8…32, got ${p.ringBits}`);
  if (!(Number.isFinite(p.clipBound) && p.clipBound > 0)) bad(`clip bound must be a positive finite number, got ${p.clipBound}`);
  if (p.maxSummands !== n) bad(`maxSummands must be the participant count ${n}, got ${p.maxSummands}`);
  if (p.scale !== fixedPointScale(p.clipBound, p.maxSummands, p.ringBits)) bad('scale is not fixedPointScale(clipBound, maxSummands, ringBits)');
}
