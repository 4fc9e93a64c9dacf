/**
 * Model-poisoning participants for experiments (the in-process simulation today, the
 * socket fleet later): what a malicious client sends in place of its honest update. Every
 * attack spends the whole clip budget C — the most the coordinator's validate stage lets
 * through — and attackers also claim MAX_NUM_EXAMPLES examples, the largest weight claim
 * that passes validation. Only the weighting policy and the combine rule stand between
 * them and the model.
 *
 * - 'reverse': −C·Δ/‖Δ‖, the attacker's honest step reversed at the clip bound (a
 *   sign-flipping attack, e.g. Damaskinos et al. 2018 / Karimireddy et al. 2021's
 *   evaluation). It sits in the same rows an honest client of that person would touch.
 * - 'noise': Gaussian noise of norm C on the support of Δ (the same rows when Δ is
 *   row-sparse, every coordinate when dense) — a random direction at full strength.
 * - 'scale': the honest step boosted to the bound, C·Δ/‖Δ‖ ("explicit boosting",
 *   Bhagoji, Chakraborty, Mittal & Calo 2019, "Analyzing Federated Learning through an
 *   Adversarial Lens"): harmless in direction, it tests whether one person's data can take
 *   over a round through the weight claim.
 * An all-zero Δ gives an all-zero update for 'reverse' and 'scale'.
 */
import { FlockError } from '../errors.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { scaleDelta } from '../update/scale-delta.ts';
import { deltaL2Norm, MAX_NUM_EXAMPLES, type DeltaTensor, type DeltaTensors } from '../update/check-update.ts';

export type AttackKind = 'reverse' | 'noise' | 'scale';

export const ATTACK_KINDS: readonly AttackKind[] = ['reverse', 'noise', 'scale'];

/** What an attacker claims as numExamples: the most validation accepts. */
export const ATTACKER_CLAIMED_EXAMPLES = MAX_NUM_EXAMPLES;

export function parseAttackKind(s: string): AttackKind {
  if ((ATTACK_KINDS as readonly string[]).includes(s)) return s as AttackKind;
  throw new FlockError('bad-config', `attack must be one of ${ATTACK_KINDS.join(', ')}, got "${s}"`);
}

/**
 * The update an attacker sends instead of its honest `delta` (dense or row-sparse per
 * tensor): norm C = clipNorm, built as described above. `rng` drives 'noise' only.
 * Returns new arrays (row indices shared); `delta` is not mutated.
 */
export function poisonUpdate(kind: AttackKind, delta: DeltaTensors, clipNorm: number, rng: SeededRandom): Record<string, DeltaTensor> {
  if (!(Number.isFinite(clipNorm) && clipNorm > 0)) throw new FlockError('bad-config', `clip bound must be a positive finite number, got ${clipNorm}`);
  const out: Record<string, DeltaTensor> = {};
  const values = (t: DeltaTensor) => (t instanceof Float32Array ? t : t.data);
  const wrap = (t: DeltaTensor, v: Float32Array): DeltaTensor => (t instanceof Float32Array ? v : { rows: t.rows, data: v });
  if (kind === 'noise') {
    const noise: Record<string, DeltaTensor> = {};
    for (const [name, t] of Object.entries(delta)) noise[name] = wrap(t, Float32Array.from(values(t), () => rng.normal()));
    return rescaled(noise, clipNorm, 1);
  }
  const norm = deltaL2Norm(delta);
  if (norm === 0) {
    for (const [name, t] of Object.entries(delta)) out[name] = wrap(t, new Float32Array(values(t).length));
    return out;
  }
  return rescaled(delta, clipNorm, kind === 'reverse' ? -1 : 1);
}

/** sign · C · t / ‖t‖, in float32. */
function rescaled(t: DeltaTensors, clipNorm: number, sign: number): Record<string, DeltaTensor> {
  const norm = deltaL2Norm(t);
  return scaleDelta(t, norm > 0 ? (sign * clipNorm) / norm : 0);
}

/**
 * A fixed, seeded subset of `clients`: round(fraction × count) of them, the same for
 * every round of a run. fraction in [0, 1).
 */
export function pickAttackers<T>(clients: readonly T[], fraction: number, seed: number): Set<T> {
  if (!(fraction >= 0 && fraction < 1)) throw new FlockError('bad-config', `attacker fraction must be in [0, 1), got ${fraction}`);
  const count = Math.round(fraction * clients.length);
  return new Set(new SeededRandom(seed).shuffle([...clients]).slice(0, count));
}
