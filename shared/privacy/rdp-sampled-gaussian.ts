/**
 * Rényi DP of ONE step of the Poisson-sampled Gaussian mechanism: Mironov, Talwar & Zhang
 * 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism" (arXiv:1908.10530).
 *
 * Each record is included independently with probability q; the (clipped, sensitivity-1)
 * sum gets N(0, σ²) noise, σ = z (the noise multiplier). With μ₀ = N(0, σ²),
 * μ₁ = N(1, σ²), μ = (1 − q)μ₀ + qμ₁ the mechanism is (α, ε(α))-RDP with
 *
 *   ε(α) = log A_α / (α − 1),   A_α = E_{x∼μ₀}[(μ(x)/μ₀(x))^α]        (§3.3)
 *
 * Integer α (§3.3, the binomial expansion):
 *
 *   A_α = Σ_{i=0..α} C(α, i) (1 − q)^{α−i} q^i exp((i² − i)/(2σ²))
 *
 * Fractional α (§3.3, the two series split at z₀ = σ² log(1/q − 1) + ½, where μ₁/μ₀ crosses
 * (1 − q)/q): A_α = A₁ + A₂,
 *
 *   A₁ = Σ_{i≥0} C(α, i) q^i (1 − q)^{α−i} exp((i² − i)/(2σ²)) · ½ erfc((i − z₀)/(√2 σ))
 *   A₂ = Σ_{i≥0} C(α, i) q^{α−i} (1 − q)^i exp((j² − j)/(2σ²)) · ½ erfc((z₀ − j)/(√2 σ)),  j = α − i
 *
 * with the generalised binomial C(α, i): positive for i ≤ ⌊α⌋ + 1, alternating after. All in
 * log space with log erfc from log-erfc.ts, so neither the huge exp((i² − i)/2σ²) nor the
 * tiny erfc is ever formed. Both series' i-th terms are C(α, i)·e^{C}·½·erfcx(·) with one
 * constant C = α log(1 − q) − z₀²/2σ² (the Gaussian growth cancels against the erfc tail), so
 * past i = ⌊α⌋ they decay only polynomially, like i^−(α+2): summed term by term (as
 * dp_accounting does, to a fixed cutoff) orders near 1 need thousands of terms. Here the
 * terms i ≤ ⌊α⌋ are summed directly and the alternating tail i > ⌊α⌋ — |C(α, i)| is a Beta
 * moment sequence in i and erfcx(c(i − m)) a Laplace one, so their product is a Hausdorff
 * moment sequence — by the Cohen–Rodriguez Villegas–Zagier accelerator (20 terms, error
 * ≤ 1e−15 of the first tail term; the tail is ≥ 0, so nothing cancels). Cross-checked
 * against direct numerical integration of A_α at 40 digits: relative error ≤ 1e−7 wherever
 * ε(α) > 1e−8; below that the ~1e−16 absolute rounding of log A dominates (≤ 1e−14 in ε(α)
 * even at α = 1.01, where it is divided by α − 1).
 *
 * Special cases: q = 0 → 0 (the record is never used, whatever z), z = 0 → Infinity,
 * q = 1 → α/(2z²) (the plain Gaussian mechanism). A result below 0 can only be rounding
 * (true ε(α) ≥ 0) and is returned as 0. Cost: ~3 µs per integer order up to 64, ~15 µs per
 * fractional order; a 164-order vector (DEFAULT_RDP_ORDERS) in ~2 ms.
 */
import { FlockError } from '../errors.ts';
import { logErfc } from './log-erfc.ts';

const LN_HALF = -Math.LN2;
/** Terms of the alternating tail fed to the accelerator: error ≤ 2·5.83^−20 ≈ 1e−15 of the first tail term. */
const TAIL_TERMS = 20;

/** Streaming log-sum-exp of non-negative numbers given by their logs. */
class LogSum {
  private max = -Infinity;
  private scaled = 0; // Σ exp(term − max)

  add(logTerm: number): void {
    if (logTerm === -Infinity) return;
    if (logTerm > this.max) {
      this.scaled = this.scaled * Math.exp(this.max - logTerm) + 1;
      this.max = logTerm;
    } else {
      this.scaled += Math.exp(logTerm - this.max);
    }
  }

  value(): number {
    return this.max === -Infinity ? -Infinity : this.max + Math.log(this.scaled);
  }
}

function checkInputs(q: number, noiseMultiplier: number, order: number): void {
  if (typeof q !== 'number' || !(q >= 0 && q <= 1)) {
    throw new FlockError('bad-config', `sampling rate q must be a number in [0, 1], got ${q}`);
  }
  if (typeof noiseMultiplier !== 'number' || !(noiseMultiplier >= 0) || !Number.isFinite(noiseMultiplier)) {
    throw new FlockError('bad-config', `noise multiplier must be a finite number ≥ 0, got ${noiseMultiplier}`);
  }
  if (typeof order !== 'number' || !(order > 1) || !Number.isFinite(order)) {
    throw new FlockError('bad-config', `Rényi order must be a finite number > 1, got ${order}`);
  }
}

/** log A_α for integer α ≥ 2 and 0 < q < 1. */
function logMomentInteger(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const inv2s2 = 1 / (2 * sigma * sigma);
  const sum = new LogSum();
  let logBinom = 0; // log C(α, 0)
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log((alpha - i + 1) / i);
    sum.add(logBinom + i * logQ + (alpha - i) * log1mQ + (i * i - i) * inv2s2);
  }
  return sum.value();
}

/**
 * Σ_{k≥0} (−1)^k a_k for a Hausdorff moment sequence a_k = ∫₀¹ x^k dρ(x), ρ ≥ 0, from its first
 * n terms: Cohen, Rodriguez Villegas & Zagier 2000, "Convergence acceleration of alternating
 * series", Experimental Mathematics 9(1), Algorithm 1. Error ≤ 2·a₀ / (3 + √8)^n.
 */
function alternatingSum(terms: Float64Array): number {
  const n = terms.length;
  let d = Math.pow(3 + Math.sqrt(8), n);
  d = (d + 1 / d) / 2;
  let b = -1;
  let c = -d;
  let s = 0;
  for (let k = 0; k < n; k++) {
    c = b - c;
    s += c * terms[k];
    b = ((k + n) * (k - n) * b) / ((k + 0.5) * (k + 1));
  }
  return s / d;
}

/** log A_α for fractional α > 1 and 0 < q < 1. */
function logMomentFractional(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const inv2s2 = 1 / (2 * sigma * sigma);
  const z0 = sigma * sigma * (log1mQ - logQ) + 0.5;
  const erfcScale = 1 / (Math.SQRT2 * sigma);
  /** log of the i-th term of A₁ + A₂ without the sign of C(α, i); logBinom = log |C(α, i)|. */
  const logTerm = (i: number, logBinom: number): number => {
    const j = alpha - i;
    const s0 = logBinom + i * logQ + j * log1mQ + (i * i - i) * inv2s2 + LN_HALF + logErfc((i - z0) * erfcScale);
    const s1 = logBinom + j * logQ + i * log1mQ + (j * j - j) * inv2s2 + LN_HALF + logErfc((z0 - j) * erfcScale);
    return s0 > s1 ? s0 + Math.log1p(Math.exp(s1 - s0)) : s1 + Math.log1p(Math.exp(s0 - s1));
  };
  // i = 0 … ⌊α⌋: C(α, i) > 0, summed directly.
  const head = new LogSum();
  const first = Math.floor(alpha) + 1;
  let logBinom = 0; // log |C(α, i)|
  for (let i = 0; i < first; i++) {
    if (i > 0) logBinom += Math.log((alpha - i + 1) / i);
    head.add(logTerm(i, logBinom));
  }
  // i ≥ ⌊α⌋ + 1: C(α, i) = (−1)^{i−⌊α⌋−1} |C(α, i)|, and |C(α, i)| · (the rest) is a moment
  // sequence, so the alternating tail is accelerated instead of summed term by term.
  logBinom += Math.log((alpha - first + 1) / first);
  const logFirst = logTerm(first, logBinom);
  if (logFirst === -Infinity) return head.value();
  const tail = new Float64Array(TAIL_TERMS);
  tail[0] = 1;
  for (let k = 1; k < TAIL_TERMS; k++) {
    const i = first + k;
    logBinom += Math.log(Math.abs((alpha - i + 1) / i));
    tail[k] = Math.exp(logTerm(i, logBinom) - logFirst); // ≤ 1: the sequence decreases
  }
  const tailSum = alternatingSum(tail); // in [1 − tail[1], 1] up to rounding
  if (tailSum > 0) head.add(logFirst + Math.log(tailSum));
  return head.value();
}

/**
 * RDP ε(α) of one step of the Poisson-sampled Gaussian mechanism with sampling rate q and
 * noise multiplier z (noise σ = z · L2 sensitivity), at order α > 1 (integer or not).
 */
export function rdpSampledGaussian(q: number, noiseMultiplier: number, order: number): number {
  checkInputs(q, noiseMultiplier, order);
  if (q === 0) return 0;
  if (noiseMultiplier === 0) return Infinity;
  if (q === 1) return order / (2 * noiseMultiplier * noiseMultiplier);
  if (!Number.isFinite(1 / (noiseMultiplier * noiseMultiplier))) return Infinity; // z so small that z² underflows
  const logA = Number.isInteger(order)
    ? logMomentInteger(q, noiseMultiplier, order)
    : logMomentFractional(q, noiseMultiplier, order);
  if (Number.isNaN(logA)) {
    throw new FlockError('bad-config', `RDP of the sampled Gaussian is numerically unstable at q=${q}, z=${noiseMultiplier}, α=${order}`);
  }
  return Math.max(0, logA / (order - 1));
}
