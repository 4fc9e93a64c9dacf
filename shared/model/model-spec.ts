import type { NamedTensors } from '../tensor/named-tensors.ts';

/**
 * GLOBAL parameters are federated (averaged by the coordinator); LOCAL parameters
 * never leave the device (e.g. a user's own embedding).
 */
export type ParamScope = 'global' | 'local';

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly scope: ParamScope;
  /** true for embedding tables whose gradient touches only some rows. */
  readonly rowSparse?: boolean;
  /** Initialiser: normal(0, std), constant zero or constant one (e.g. a layer norm's gain). */
  readonly init: { kind: 'normal'; std: number } | { kind: 'zeros' } | { kind: 'ones' };
}

export interface ModelSpec {
  readonly kind: string;
  readonly params: readonly ParamSpec[];
}

export function globalParams(spec: ModelSpec): ParamSpec[] {
  return spec.params.filter((p) => p.scope === 'global');
}

export function localParams(spec: ModelSpec): ParamSpec[] {
  return spec.params.filter((p) => p.scope === 'local');
}

export function paramSpec(spec: ModelSpec, name: string): ParamSpec {
  const p = spec.params.find((q) => q.name === name);
  if (!p) throw new Error(`unknown parameter ${name} in model ${spec.kind}`);
  return p;
}

export type { NamedTensors };
