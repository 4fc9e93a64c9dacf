import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Dataset, UserSplit } from '../../shared/data/interactions.ts';
import { leaveOneOutSplit } from '../../shared/data/leave-one-out.ts';
import { isNcfNegativeFile, parseNcfCandidates, type NcfIdMapping } from '../../shared/data/ncf-candidates.ts';
import { splitHash } from '../../shared/data/split-hash.ts';
import { sampleCandidates, type CandidatesOrigin, type EvaluationCandidates } from '../../shared/eval/candidates.ts';
import { candidatesFileSplitHash, formatCandidatesFile, parseCandidatesFile } from '../../shared/eval/candidates-file.ts';
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
 * interactions ordered by (timestamp, item id), the last is the test item, the one
 * before it the validation item, the rest is training data. Metrics are reported on the
 * test item.
 */
export function researchSplit(dataset: Dataset): UserSplit {
  return leaveOneOutSplit(dataset, { validation: true });
}

/** Where a run's evaluation candidates come from (`--candidates`, `--candidate-ids`, `--out`). */
export interface CandidatesOptions {
  /** A candidates file to read: Flock's candidates.json or an NCF test.negative file. */
  readonly file?: string;
  /** Id mapping of an NCF file (shared/data/ncf-candidates.ts; default 'ncf'). */
  readonly ids?: NcfIdMapping;
  /** Without `file`: the run folder, where candidates.json is written once and reused. */
  readonly outDir?: string;
  /** Where to say what was read or written. */
  readonly log?: (line: string) => void;
}

/** What report.json records about the candidates (config.candidates). */
export interface CandidatesInfo {
  readonly file: string | null;
  readonly format: 'flock' | 'ncf' | 'in-memory';
  /** 'read' a given file, 'reused' or 'written' <out>/candidates.json, or 'sampled' in memory. */
  readonly how: 'read' | 'reused' | 'written' | 'sampled';
  readonly splitHash: string;
  readonly origin: CandidatesOrigin;
}

export const CANDIDATES_FILE = 'candidates.json';

/**
 * The fixed candidate lists of a run (shared/eval/candidates.ts):
 * - `file`: read it — Flock's format or NCF's (detected from the text) — and refuse it
 *   (FlockError 'bad-data') unless it matches this split;
 * - else `outDir`: `<outDir>/candidates.json` if it was made for this split (same split
 *   hash; refused if damaged), else the data set's own lists, written there (replacing
 *   a file made for another split, with a note);
 * - else the data set's own lists, in memory.
 * Either way the lists depend on the data set only, never on a run's seed.
 */
export function resolveCandidates(dataset: Dataset, split: UserSplit, o: CandidatesOptions = {}): { candidates: EvaluationCandidates; info: CandidatesInfo } {
  const info = (c: EvaluationCandidates, file: string | null, format: CandidatesInfo['format'], how: CandidatesInfo['how']) => ({
    candidates: c,
    info: { file, format, how, splitHash: c.splitHash, origin: c.origin },
  });
  if (o.file) {
    const file = path.resolve(o.file);
    if (!existsSync(file)) throw new FlockError('not-found', `--candidates: no file ${file}`);
    const text = readFileSync(file, 'utf8');
    if (isNcfNegativeFile(text)) {
      const c = parseNcfCandidates(text, dataset, split, { ids: o.ids, what: `NCF candidates file ${file}` });
      const { origin } = c;
      o.log?.(
        `candidates: ${file} (NCF format, ${o.ids ?? 'ncf'} ids); validation lists sampled` +
          (origin.kind === 'ncf' && origin.droppedKnown + origin.droppedDuplicates > 0
            ? `; dropped ${origin.droppedKnown} listed negatives the person interacted with and ${origin.droppedDuplicates} repeats`
            : ''),
      );
      return info(c, file, 'ncf', 'read');
    }
    if (o.ids && o.ids !== 'dense') throw new FlockError('bad-config', `--candidate-ids ${o.ids} is for NCF files; ${file} is a Flock candidates file (dense ids)`);
    const c = parseCandidatesFile(text, split, dataset.numItems, `candidates file ${file}`);
    o.log?.(`candidates: ${file}`);
    return info(c, file, 'flock', 'read');
  }
  if (o.ids) throw new FlockError('bad-config', '--candidate-ids needs --candidates FILE');
  if (!o.outDir) return info(sampleCandidates(split, dataset.numItems), null, 'in-memory', 'sampled');
  const file = path.join(path.resolve(o.outDir), CANDIDATES_FILE);
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8');
    const hash = splitHash(split, dataset.numItems);
    const theirs = candidatesFileSplitHash(text);
    if (theirs === hash) {
      const c = parseCandidatesFile(text, split, dataset.numItems, `candidates file ${file}`);
      o.log?.(`candidates: reused ${file} (split ${hash})`);
      return info(c, file, 'flock', 'reused');
    }
    o.log?.(`candidates: ${file} was made for another split (${theirs ?? 'unknown'}); replacing it with this data set's (${hash})`);
  }
  const c = sampleCandidates(split, dataset.numItems);
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, formatCandidatesFile(c, split, dataset.name));
  renameSync(tmp, file);
  o.log?.(`candidates: wrote ${file} (split ${c.splitHash})`);
  return info(c, file, 'flock', 'written');
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
