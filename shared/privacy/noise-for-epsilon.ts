/**
 * The inverse of the sampled-Gaussian RDP accountant: the smallest noise multiplier z for
 * which `steps` Poisson-sampled Gaussian steps at rate q stay within a target (ε, δ).
 * Accounting as in rdp-accountant.ts (Mironov, Talwar & Zhang 2019, "Rényi Differential
 * Privacy of the Sampled Gaussian Mechanism"; conversion per rdp-to-dp.ts); the search is the
 * calibration TF Privacy's compute_noise / dp_accounting's calibrate_dp_mechanism do:
 * ε(z) is decreasing in z (every order's RDP is), so bracket by doubling / halving from
 * z = 1, then bisect to 1e−6 relative, and return the upper end: ε(result) ≤ target always,
 * and result·(1 − 1e−6) may already be over it.
 *
 * With 'classic' ε cannot go below min_α log(1/δ)/(α − 1) however large z is — 0.0225 at
 * δ = 1e−5 on the default grid (largest order 512) — so a target at or below that floor is
 * refused with the floor in the message ('balle2020' reaches any ε > 0 through its KL bound). Each ε(z) is one RDP vector over the orders (~2 ms on DEFAULT_RDP_ORDERS): a
 * calibration is ~25 of them.
 */
import { FlockError } from '../errors.ts';
import { DEFAULT_RDP_ORDERS } from './rdp-accountant.ts';
import { rdpSampledGaussian } from './rdp-sampled-gaussian.ts';
import { DP_CONVERSIONS, epsilonFromRdp, type DpConversion } from './rdp-to-dp.ts';

const RELATIVE_TOLERANCE = 1e-6;
const MAX_NOISE = 1e6;
const MIN_NOISE = 1e-6;

export interface EpsilonForNoiseOptions {
  q: number;
  noiseMultiplier: number;
  steps: number;
  delta: number;
  conversion?: DpConversion;
  orders?: readonly number[];
}

export interface NoiseForEpsilonOptions {
  q: number;
  steps: number;
  targetEpsilon: number;
  delta: number;
  conversion?: DpConversion;
  orders?: readonly number[];
}

function checkSteps(steps: unknown, min: number): void {
  if (typeof steps !== 'number' || !Number.isSafeInteger(steps) || steps < min) {
    throw new FlockError('bad-config', `steps must be an integer ≥ ${min}, got ${steps}`);
  }
}

/** ε after `steps` steps of the Poisson-sampled Gaussian (q, z) at δ; Infinity when z = 0 < q. */
export function epsilonForNoise(o: EpsilonForNoiseOptions): number {
  const orders = o.orders ?? DEFAULT_RDP_ORDERS;
  checkSteps(o.steps, 0);
  const curve = orders.map((a) => {
    const r = rdpSampledGaussian(o.q, o.noiseMultiplier, a);
    return o.steps === 0 ? 0 : o.steps * r;
  });
  return epsilonFromRdp(orders, curve, o.delta, o.conversion ?? 'balle2020').epsilon;
}

/**
 * The smallest noise multiplier z (to 1e−6 relative, rounded up) such that `steps` steps at
 * sampling rate q are (targetEpsilon, δ)-DP.
 */
export function noiseMultiplierForEpsilon(o: NoiseForEpsilonOptions): number {
  const { q, steps, targetEpsilon, delta } = o;
  const conversion = o.conversion ?? 'balle2020';
  const orders = o.orders ?? DEFAULT_RDP_ORDERS;
  if (typeof q !== 'number' || !(q > 0 && q <= 1)) {
    throw new FlockError('bad-config', `sampling rate q must be a number in (0, 1], got ${q}`);
  }
  checkSteps(steps, 1);
  if (typeof targetEpsilon !== 'number' || !(targetEpsilon > 0) || !Number.isFinite(targetEpsilon)) {
    throw new FlockError('bad-config', `target ε must be a finite number > 0, got ${targetEpsilon}`);
  }
  if (!DP_CONVERSIONS.includes(conversion)) {
    throw new FlockError('bad-config', `unknown RDP→DP conversion '${conversion}': expected one of ${DP_CONVERSIONS.join(', ')}`);
  }
  // ε as z → ∞ (all RDP 0); also validates orders and δ.
  const floor = epsilonFromRdp(orders, new Float64Array(orders.length), delta, conversion).epsilon;
  if (targetEpsilon <= floor) {
    throw new FlockError(
      'bad-config',
      `target ε ${targetEpsilon} is unreachable at δ=${delta} with the '${conversion}' conversion on these orders: ` +
        `even infinite noise only certifies ε=${floor.toPrecision(4)} (add larger orders, or use 'balle2020')`,
    );
  }
  const eps = (z: number) => epsilonForNoise({ q, noiseMultiplier: z, steps, delta, conversion, orders });
  let hi = 1;
  while (eps(hi) > targetEpsilon) {
    hi *= 2;
    if (hi > MAX_NOISE) {
      throw new FlockError('bad-config', `target ε ${targetEpsilon} at δ=${delta} needs a noise multiplier above ${MAX_NOISE}`);
    }
  }
  let lo = hi / 2;
  while (eps(lo) <= targetEpsilon) {
    hi = lo;
    lo /= 2;
    if (lo < MIN_NOISE) return hi;
  }
  // eps(lo) > target ≥ eps(hi)
  while (hi - lo > RELATIVE_TOLERANCE * hi) {
    const mid = (lo + hi) / 2;
    if (eps(mid) <= targetEpsilon) hi = mid;
    else lo = mid;
  }
  return hi;
}
