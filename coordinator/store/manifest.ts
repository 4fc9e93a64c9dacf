/**
 * manifest.json: the list of complete versions of one model's data dir, oldest first.
 * A version exists for the coordinator only once the manifest names it (the commit
 * point of a save). Reading it tells apart a missing manifest, a usable one, and a
 * damaged one (not JSON, wrong structure, names files it should not), so the store can
 * rebuild the last two cases from the version files instead of starting over.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FlockError } from '../../shared/errors.ts';
import { privacyFile, serverStateFile, versionFile } from './version-files.ts';

export const MANIFEST_FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';

export interface ManifestEntry {
  version: number;
  round: number;
  /** Path relative to dataDir, e.g. "versions/v000123.flkw". */
  file: string;
  sha256: string;
  bytes: number;
  createdAt: string;
  /** The server optimizer's state saved with this version, when it has one. */
  serverState?: { file: string; sha256: string; bytes: number };
  /**
   * Under differential privacy: the privacy spent up to this version (privacy-record.ts).
   * The file holds the accountant's state; `epsilon` and `rounds` repeat its totals for
   * people reading the manifest (absent when the file could not be read at a rebuild).
   */
  privacy?: { file: string; sha256: string; bytes: number; epsilon?: number; rounds?: number };
}

export interface Manifest {
  formatVersion: number;
  modelKind: string;
  entries: ManifestEntry[];
}

export type ManifestRead =
  | { status: 'missing' }
  | { status: 'ok'; manifest: Manifest }
  | { status: 'damaged'; reason: string };

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isSha = (x: unknown): x is string => typeof x === 'string' && /^[0-9a-f]{64}$/.test(x);

/** Why an entry cannot be trusted, or undefined when it is well formed. */
function entryProblem(e: unknown, previous: number): string | undefined {
  if (typeof e !== 'object' || e === null) return 'an entry is not an object';
  const x = e as Partial<ManifestEntry>;
  if (!isCount(x.version)) return `an entry has version ${JSON.stringify(x.version)}`;
  if (x.version <= previous) return `version ${x.version} follows version ${previous}`;
  if (x.file !== versionFile(x.version)) return `version ${x.version} names file ${JSON.stringify(x.file)}, expected ${versionFile(x.version)}`;
  if (!isCount(x.round) || !isSha(x.sha256) || !isCount(x.bytes) || typeof x.createdAt !== 'string') return `version ${x.version} lacks round, sha256, bytes or createdAt`;
  if (x.serverState !== undefined) {
    const s = x.serverState;
    if (typeof s !== 'object' || s === null || s.file !== serverStateFile(x.version) || !isSha(s.sha256) || !isCount(s.bytes)) {
      return `version ${x.version} has a malformed serverState`;
    }
  }
  if (x.privacy !== undefined) {
    const s = x.privacy;
    const summaryOk = (s?.epsilon === undefined || (Number.isFinite(s.epsilon) && s.epsilon >= 0)) && (s?.rounds === undefined || isCount(s.rounds));
    if (typeof s !== 'object' || s === null || s.file !== privacyFile(x.version) || !isSha(s.sha256) || !isCount(s.bytes) || !summaryOk) {
      return `version ${x.version} has a malformed privacy entry`;
    }
  }
  return undefined;
}

/**
 * Reads dataDir/manifest.json. Throws only for a manifest of another format version
 * (written by a newer or older Flock: not damage, and not ours to rewrite).
 */
export async function readManifest(dataDir: string): Promise<ManifestRead> {
  const path = join(dataDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    return { status: 'damaged', reason: `cannot be read: ${(e as Error).message}` };
  }
  let parsed: Partial<Manifest>;
  try {
    parsed = JSON.parse(text) as Partial<Manifest>;
  } catch (e) {
    return { status: 'damaged', reason: `is not valid JSON (${(e as Error).message})` };
  }
  if (typeof parsed !== 'object' || parsed === null) return { status: 'damaged', reason: 'is not a JSON object' };
  if (parsed.formatVersion !== MANIFEST_FORMAT_VERSION) {
    throw new FlockError('unsupported-format', `${path} has format version ${JSON.stringify(parsed.formatVersion)}, this Flock reads ${MANIFEST_FORMAT_VERSION}: run the Flock version that wrote it, or use another --data-dir.`);
  }
  if (typeof parsed.modelKind !== 'string' || parsed.modelKind === '' || !Array.isArray(parsed.entries)) {
    return { status: 'damaged', reason: 'lacks modelKind or entries' };
  }
  let previous = -1;
  for (const e of parsed.entries as unknown[]) {
    const problem = entryProblem(e, previous);
    if (problem) return { status: 'damaged', reason: `is malformed: ${problem}` };
    previous = (e as ManifestEntry).version;
  }
  return { status: 'ok', manifest: parsed as Manifest };
}
