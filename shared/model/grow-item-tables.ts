/**
 * A growing catalog: the GLOBAL parameters of version v carried into a model whose item
 * tables have more rows (items added by the operator). Tables are row-major with items
 * as their first dimension, so growing appends rows:
 *
 * - rows of existing items are copied unchanged;
 * - new rows of the MF model are zero (free embedding row and bias): with the feature
 *   tower a new item is scored from its features alone (item-feature-tower.ts), without
 *   it it scores 0 until rounds learn it;
 * - new rows of other models (SASRec's item embedding) are drawn from the parameter's own
 *   initialiser, seeded, as the table's first rows were;
 * - a parameter the old model did not have (e.g. the tower switched on) starts from its
 *   initialiser; every other shape change is refused ('wrong-shape'), nothing changes.
 *
 * The server optimizer's moments grow alike: zeros appended (growMoments).
 */
import { FlockError } from '../errors.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { elementCount, type NamedTensors } from '../tensor/named-tensors.ts';
import { initParams } from './init-params.ts';
import { globalParams, type ModelSpec, type ParamSpec } from './model-spec.ts';

/** True when `to` is `from` with more (or as many) rows: same rank, same trailing dimensions. */
export function growsRows(from: readonly number[], to: readonly number[]): boolean {
  return from.length === to.length && from.length > 0 && to[0] >= from[0] && from.slice(1).every((d, i) => d === to[i + 1]);
}

/** True when growGlobals can carry `from`'s parameters into `to` (same kind, only rows or new parameters added). */
export function canGrow(from: ModelSpec, to: ModelSpec): boolean {
  const target = new Map(globalParams(to).map((p) => [p.name, p.shape]));
  return from.kind === to.kind && globalParams(from).every((p) => target.has(p.name) && growsRows(p.shape, target.get(p.name)!));
}

/** New rows' initial values for one parameter: zeros for the MF model, else its initialiser. */
function newRowValues(spec: ModelSpec, p: ParamSpec, count: number, rng: SeededRandom): Float32Array {
  const out = new Float32Array(count);
  if (spec.kind === 'mf' || p.init.kind === 'zeros') return out;
  if (p.init.kind === 'ones') return out.fill(1);
  for (let i = 0; i < count; i++) out[i] = rng.normal() * p.init.std;
  return out;
}

/**
 * The GLOBAL parameters of `to` from those of `from` (see the header). Fresh arrays;
 * `globals` is not changed. Throws FlockError('wrong-shape') for a change other than more rows.
 */
export function growGlobals(from: ModelSpec, to: ModelSpec, globals: NamedTensors, seed: number): NamedTensors {
  if (from.kind !== to.kind) throw new FlockError('wrong-shape', `cannot grow a '${from.kind}' model into a '${to.kind}' model`);
  const old = new Map(globalParams(from).map((p) => [p.name, p]));
  const fresh = initParams(to, 'global', seed);
  const rng = new SeededRandom(seed ^ 0x6e0);
  const out: NamedTensors = {};
  for (const p of globalParams(to)) {
    const q = old.get(p.name);
    if (!q) {
      out[p.name] = fresh[p.name];
      continue;
    }
    if (!growsRows(q.shape, p.shape)) throw new FlockError('wrong-shape', `'${p.name}' is ${q.shape.join('×')}, cannot grow to ${p.shape.join('×')}: only rows may be added`);
    const values = globals[p.name];
    if (!values || values.length !== elementCount(q.shape)) throw new FlockError('wrong-shape', `'${p.name}' holds ${values?.length ?? 0} values, its shape ${q.shape.join('×')} needs ${elementCount(q.shape)}`);
    const next = new Float32Array(elementCount(p.shape));
    next.set(values);
    next.set(newRowValues(to, p, next.length - values.length, rng), values.length);
    out[p.name] = next;
  }
  return out;
}

/**
 * A server optimizer's state (server-optimizer.ts: `step`, `m/<name>`, `v/<name>`, flat)
 * for the grown model: each moment zero-padded to its parameter's new size; a moment of
 * a parameter the new model lacks is refused.
 */
export function growMoments(to: ModelSpec, state: NamedTensors): NamedTensors {
  const sizes = new Map(globalParams(to).map((p) => [p.name, elementCount(p.shape)]));
  const out: NamedTensors = {};
  for (const [key, values] of Object.entries(state)) {
    const slash = key.indexOf('/');
    if (slash < 0) {
      out[key] = values.slice();
      continue;
    }
    const size = sizes.get(key.slice(slash + 1));
    if (size === undefined || size < values.length) throw new FlockError('wrong-shape', `server optimizer state '${key}' has no parameter of at least ${values.length} values in the grown model`);
    const next = new Float32Array(size);
    next.set(values);
    out[key] = next;
  }
  return out;
}
