import os from 'node:os';
import type { Dataset, UserSplit } from '../../shared/data/interactions.ts';
import { leaveOneOutSplit } from '../../shared/data/leave-one-out.ts';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { FlockError } from '../../shared/errors.ts';
import { loadMovieLens } from '../data/load-movielens.ts';

/** Where a research run's data comes from: a MovieLens folder, or the built-in generator. */
export type DataSource = { readonly kind: 'movielens'; readonly path: string } | { readonly kind: 'synthetic'; readonly users: number; readonly items: number; readonly seed: number };

/** Parses `USERS,ITEMS[,SEED]` (seed default 7, as the demo catalog). */
export function parseSyntheticSpec(spec: string): DataSource {
  const parts = spec.split(',').map((s) => Number(s.trim()));
  if (parts.length < 2 || parts.length > 3 || parts.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new FlockError('bad-config', `--synthetic expects USERS,ITEMS[,SEED] (positive integers), got "${spec}"`);
  }
  return { kind: 'synthetic', users: parts[0], items: parts[1], seed: parts[2] ?? 7 };
}

export async function loadSource(src: DataSource): Promise<Dataset> {
  return src.kind === 'movielens' ? loadMovieLens(src.path) : generateSyntheticDataset({ users: src.users, items: src.items, seed: src.seed });
}

/**
 * The research split: per-user leave-one-out by time (shared/data/leave-one-out.ts) —
 * the last interaction is the test item, the one before it the validation item, the
 * rest is training data. Metrics are reported on the test item.
 */
export function researchSplit(dataset: Dataset): UserSplit {
  return leaveOneOutSplit(dataset, { validation: true });
}

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cpus: number;
  readonly node: string;
  readonly platform: string;
  readonly totalMemGiB: number;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  };
}
