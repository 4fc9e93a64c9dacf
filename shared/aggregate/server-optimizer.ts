/**
 * The server step of federated optimisation (Reddi et al. 2021, "Adaptive Federated
 * Optimization"): the mean client delta Δ of a round (client weights − global weights,
 * as StreamingWeightedMean returns it) is a pseudo-gradient g = −Δ, and a server
 * optimizer turns it into the next global weights.
 *
 * - 'sgd': x ← x + η·Δ (FedAvg with a server learning rate; exactly applyServerUpdate).
 * - 'momentum' (FedAvgM, Hsu et al. 2019): m ← β·m + Δ; x ← x + η·m.
 * - 'adam' (FedAdam, Reddi et al. Algorithm 2): m ← β₁·m + (1 − β₁)·Δ;
 *   v ← β₂·v + (1 − β₂)·Δ²; x ← x + η·m / (√v + τ). No bias correction and v₀ = 0,
 *   as in the paper's algorithm; τ (adaptivity, default 1e-3) bounds the step of
 *   coordinates whose updates are tiny. With `biasCorrection` (Kingma & Ba's Adam, used
 *   by the centralized SASRec baseline with Δ = −gradient): m / (1 − β₁ᵗ) and
 *   v / (1 − β₂ᵗ) in place of m and v.
 *
 * Tensors absent from Δ are copied unchanged and their state is left alone. State (m, v
 * and the step count) is plain NamedTensors (`state()` / `loadState()`), so a
 * coordinator can checkpoint it next to the weights. Pure typed-array math, no node:*
 * imports: it runs in the coordinator, a worker or a browser.
 */
import { FlockError } from '../errors.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { applyServerUpdate, checkMeanMatchesGlobals } from './apply-server-update.ts';

export type ServerOptimizerKind = 'sgd' | 'momentum' | 'adam';

export const SERVER_OPTIMIZER_KINDS: readonly ServerOptimizerKind[] = ['sgd', 'momentum', 'adam'];

export interface ServerOptimizerConfig {
  readonly kind: ServerOptimizerKind;
  /** Server learning rate η. */
  readonly learningRate: number;
  /** momentum: β (default 0.9); adam: β₁ (default 0.9). In [0, 1). */
  readonly momentum?: number;
  /** adam: β₂ in [0, 1) (default 0.99). */
  readonly beta2?: number;
  /** adam: adaptivity τ > 0 (default 1e-3). */
  readonly epsilon?: number;
  /** adam: divide m by 1 − β₁ᵗ and v by 1 − β₂ᵗ (Kingma & Ba); default false (Reddi et al.). */
  readonly biasCorrection?: boolean;
}

export const DEFAULT_SERVER_MOMENTUM = 0.9;
export const DEFAULT_SERVER_BETA2 = 0.99;
export const DEFAULT_SERVER_EPSILON = 1e-3;

export function parseServerOptimizerKind(v: string): ServerOptimizerKind {
  if (v !== 'sgd' && v !== 'momentum' && v !== 'adam') throw new FlockError('bad-config', `server optimizer must be sgd, momentum or adam, got "${v}"`);
  return v;
}

export interface ServerOptimizer {
  readonly config: Required<ServerOptimizerConfig>;
  /** New global weights (fresh arrays) after one round with mean client delta `meanDelta`. */
  step(globals: NamedTensors, meanDelta: NamedTensors): NamedTensors;
  /** The optimizer's state as named tensors: `step` (one value), `m/<name>`, `v/<name>` (adam). */
  state(): NamedTensors;
  /** Replaces the state with one from state() of an optimizer of the same kind. */
  loadState(state: NamedTensors): void;
}

function checkUnit(name: string, x: number): void {
  if (!Number.isFinite(x) || x < 0 || x >= 1) throw new FlockError('bad-config', `${name} must be in [0, 1), got ${x}`);
}

export function createServerOptimizer(cfg: ServerOptimizerConfig): ServerOptimizer {
  const kind = parseServerOptimizerKind(cfg.kind);
  if (!Number.isFinite(cfg.learningRate) || cfg.learningRate <= 0) throw new FlockError('bad-config', `server learning rate must be a positive number, got ${cfg.learningRate}`);
  const full: Required<ServerOptimizerConfig> = {
    kind,
    learningRate: cfg.learningRate,
    momentum: cfg.momentum ?? DEFAULT_SERVER_MOMENTUM,
    beta2: cfg.beta2 ?? DEFAULT_SERVER_BETA2,
    epsilon: cfg.epsilon ?? DEFAULT_SERVER_EPSILON,
    biasCorrection: cfg.biasCorrection ?? false,
  };
  checkUnit('server momentum (β1)', full.momentum);
  checkUnit('server β2', full.beta2);
  if (!Number.isFinite(full.epsilon) || full.epsilon <= 0) throw new FlockError('bad-config', `server epsilon (τ) must be a positive number, got ${full.epsilon}`);
  return new MomentSgd(full);
}

/** One implementation for the three kinds: sgd keeps no moments, momentum keeps m, adam m and v. */
class MomentSgd implements ServerOptimizer {
  private steps = 0;
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();

  constructor(readonly config: Required<ServerOptimizerConfig>) {}

  step(globals: NamedTensors, meanDelta: NamedTensors): NamedTensors {
    const { kind, learningRate: lr, momentum: b1, beta2: b2, epsilon: tau, biasCorrection } = this.config;
    const t = this.steps + 1;
    const c1 = biasCorrection ? 1 - Math.pow(b1, t) : 1;
    const c2 = biasCorrection ? 1 - Math.pow(b2, t) : 1;
    if (kind === 'sgd') {
      const out = applyServerUpdate(globals, meanDelta, lr);
      this.steps++;
      return out;
    }
    checkMeanMatchesGlobals(globals, meanDelta);
    const out: NamedTensors = {};
    for (const [name, old] of Object.entries(globals)) {
      const d = meanDelta[name];
      if (!d) {
        out[name] = old.slice();
        continue;
      }
      const m = moment(this.m, name, old.length);
      const o = new Float32Array(old.length);
      if (kind === 'momentum') {
        for (let i = 0; i < o.length; i++) {
          m[i] = b1 * m[i] + d[i];
          o[i] = old[i] + lr * m[i];
        }
      } else {
        const v = moment(this.v, name, old.length);
        for (let i = 0; i < o.length; i++) {
          m[i] = b1 * m[i] + (1 - b1) * d[i];
          v[i] = b2 * v[i] + (1 - b2) * d[i] * d[i];
          o[i] = old[i] + (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + tau);
        }
      }
      out[name] = o;
    }
    this.steps++;
    return out;
  }

  state(): NamedTensors {
    const s: NamedTensors = { step: Float32Array.of(this.steps) };
    for (const [name, m] of this.m) s[`m/${name}`] = m.slice();
    for (const [name, v] of this.v) s[`v/${name}`] = v.slice();
    return s;
  }

  loadState(state: NamedTensors): void {
    const step = state.step;
    if (!step || step.length !== 1 || !Number.isInteger(step[0]) || step[0] < 0) throw new FlockError('malformed', 'server optimizer state needs a non-negative integer "step"');
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const [key, t] of Object.entries(state)) {
      if (key === 'step') continue;
      const slash = key.indexOf('/');
      const which = key.slice(0, slash);
      const name = key.slice(slash + 1);
      const wanted = this.config.kind === 'adam' ? ['m', 'v'] : this.config.kind === 'momentum' ? ['m'] : [];
      if (slash <= 0 || !wanted.includes(which)) throw new FlockError('malformed', `server optimizer state: unexpected tensor "${key}" for ${this.config.kind}`);
      for (let i = 0; i < t.length; i++) if (!Number.isFinite(t[i])) throw new FlockError('non-finite', `server optimizer state: ${key} has a non-finite value`);
      (which === 'm' ? m : v).set(name, t.slice());
    }
    if (this.config.kind === 'adam') {
      for (const name of new Set([...m.keys(), ...v.keys()])) {
        if (m.get(name)?.length !== v.get(name)?.length) throw new FlockError('malformed', `server optimizer state: m/${name} and v/${name} must both exist with the same length`);
      }
    }
    this.steps = step[0];
    this.m.clear();
    this.v.clear();
    for (const [k, t] of m) this.m.set(k, t);
    for (const [k, t] of v) this.v.set(k, t);
  }
}

function moment(store: Map<string, Float32Array>, name: string, length: number): Float32Array {
  let t = store.get(name);
  if (t && t.length !== length) throw new FlockError('wrong-shape', `server optimizer state for ${name} has ${t.length} values, the tensor ${length}`);
  if (!t) {
    t = new Float32Array(length);
    store.set(name, t);
  }
  return t;
}
