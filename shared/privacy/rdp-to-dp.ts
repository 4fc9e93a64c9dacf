/**
 * From a Rényi-DP curve (ε_R(α) at a grid of orders α > 1) to an (ε, δ)-DP guarantee,
 * taking the best order of the grid.
 *
 * 'classic' — Mironov 2017, "Rényi Differential Privacy" (CSF), Proposition 3:
 *
 *   ε = min_α  ε_R(α) + log(1/δ) / (α − 1)
 *
 *   (what TF Privacy's RDP accountant used until 2020, and so its published tutorial numbers).
 *
 * 'balle2020' (default) — Balle, Barthe, Gaboardi, Hsu & Sato 2020, "Hypothesis Testing
 * Interpretations and Rényi Differential Privacy" (AISTATS, arXiv:1905.09982), the conversion
 * from their hypothesis-testing view of RDP; in the form Google's dp_accounting implements and
 * cites, Canonne, Kamath & Steinke 2020, "The Discrete Gaussian for Differential Privacy",
 * Proposition 12 (arXiv:2004.00010 v4), also Asoodeh et al. 2020 eq. 20 (arXiv:2001.05990):
 *
 *   ε = min_α  ε_R(α) + log((α − 1)/α) − (log δ + log α) / (α − 1),   clamped at ≥ 0,
 *
 *   always ≤ the classic bound; what Google's dp_accounting RdpAccountant reports. Per order,
 *   as there: if δ² ≥ 1 − e^{−ε_R(α)} the order alone already gives ε = 0, because
 *   ε_R(α) ≥ KL and TV ≤ √(1 − e^{−KL}) (Bretagnolle–Huber), and (0, δ)-DP is TV ≤ δ.
 *   (dp_accounting also skips orders ≤ 1.01 as numerically unstable; here the formula is used
 *   for every order > 1 — it is exact arithmetic on finite numbers, and such orders never
 *   win in practice.)
 *
 * deltaFromRdp is the same pair of bounds solved for δ at a given ε. Both are O(orders):
 * a few µs for 150 orders.
 */
import { FlockError } from '../errors.ts';

export type DpConversion = 'balle2020' | 'classic';

export const DP_CONVERSIONS: readonly DpConversion[] = ['balle2020', 'classic'];

function checkCurve(orders: readonly number[], rdp: ArrayLike<number>, conversion: DpConversion): void {
  if (!DP_CONVERSIONS.includes(conversion)) {
    throw new FlockError('bad-config', `unknown RDP→DP conversion '${conversion}': expected one of ${DP_CONVERSIONS.join(', ')}`);
  }
  if (orders.length === 0) throw new FlockError('bad-config', 'RDP→DP conversion needs at least one order');
  if (orders.length !== rdp.length) {
    throw new FlockError('bad-config', `RDP curve has ${rdp.length} values for ${orders.length} orders`);
  }
  for (let k = 0; k < orders.length; k++) {
    const a = orders[k];
    if (typeof a !== 'number' || !(a > 1) || !Number.isFinite(a)) {
      throw new FlockError('bad-config', `Rényi order must be a finite number > 1, got ${a} at index ${k}`);
    }
    const r = rdp[k];
    if (typeof r !== 'number' || !(r >= 0)) {
      throw new FlockError('bad-config', `RDP value must be a number ≥ 0 (or Infinity), got ${r} at order ${a}`);
    }
  }
}

/** ε at one order (before the clamp at 0). */
function epsilonAtOrder(alpha: number, r: number, logDelta: number, delta: number, conversion: DpConversion): number {
  if (r === Infinity) return Infinity;
  if (conversion === 'classic') return r - logDelta / (alpha - 1);
  if (delta * delta + Math.expm1(-r) >= 0) return 0;
  return r + Math.log1p(-1 / alpha) - (logDelta + Math.log(alpha)) / (alpha - 1);
}

/**
 * The smallest ε over the orders such that the curve implies (ε, δ)-DP, and the order that
 * gives it (the first one on ties; orders[0] if every order gives Infinity).
 */
export function epsilonFromRdp(
  orders: readonly number[],
  rdp: ArrayLike<number>,
  delta: number,
  conversion: DpConversion = 'balle2020',
): { epsilon: number; order: number } {
  checkCurve(orders, rdp, conversion);
  if (typeof delta !== 'number' || !(delta > 0 && delta < 1)) {
    throw new FlockError('bad-config', `δ must be a number in (0, 1), got ${delta}`);
  }
  const logDelta = Math.log(delta);
  let best = Infinity;
  let order = orders[0];
  for (let k = 0; k < orders.length; k++) {
    const e = epsilonAtOrder(orders[k], rdp[k], logDelta, delta, conversion);
    if (e < best) {
      best = e;
      order = orders[k];
    }
  }
  return { epsilon: Math.max(0, best), order };
}

/**
 * The smallest δ over the orders such that the curve implies (ε, δ)-DP at the given ε ≥ 0,
 * and the order that gives it; δ is capped at 1.
 */
export function deltaFromRdp(
  orders: readonly number[],
  rdp: ArrayLike<number>,
  epsilon: number,
  conversion: DpConversion = 'balle2020',
): { delta: number; order: number } {
  checkCurve(orders, rdp, conversion);
  if (typeof epsilon !== 'number' || !(epsilon >= 0) || !Number.isFinite(epsilon)) {
    throw new FlockError('bad-config', `ε must be a finite number ≥ 0, got ${epsilon}`);
  }
  let bestLog = Infinity;
  let order = orders[0];
  for (let k = 0; k < orders.length; k++) {
    const a = orders[k];
    const r = rdp[k];
    let logDelta: number;
    if (r === Infinity) logDelta = Infinity;
    else if (conversion === 'classic') logDelta = (a - 1) * (r - epsilon);
    else {
      const viaKl = r === 0 ? -Infinity : 0.5 * Math.log(-Math.expm1(-r));
      logDelta = Math.min(viaKl, (a - 1) * (r - epsilon + Math.log1p(-1 / a)) - Math.log(a));
    }
    if (logDelta < bestLog) {
      bestLog = logDelta;
      order = a;
    }
  }
  return { delta: Math.min(1, Math.exp(bestLog)), order };
}
