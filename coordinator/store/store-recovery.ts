/**
 * What CheckpointStore.open does to a data dir before trusting it, planned first and
 * applied only when the store can start, so a refusal changes nothing on disk:
 *
 * - leftover *.tmp files (a crash mid-write) are removed; no manifest ever names them;
 * - manifest present: the newest entry is verified (size and sha256 as recorded,
 *   decodes, holds its own version number and the manifest's model); a damaged or
 *   missing newest version is moved aside (`*.damaged-<time>`, never deleted) and the
 *   next newest is tried, and the manifest is rewritten without them. A damaged server
 *   optimizer state beside the good version is moved aside alone (moments restart). A
 *   damaged privacy record (differential privacy's spent budget) is never moved aside
 *   or dropped: it stays listed, a warning says so, and a coordinator with DP refuses to
 *   start on it (spent privacy must not silently vanish); see readPrivacy.
 *   Older entries are verified when read (readVersion), not at every start;
 * - manifest missing or damaged while version files exist: the manifest is rebuilt
 *   from every version file that verifies: decodes, holds the version its name says and
 *   the newest good file's model, and matches its .sha256 file when it has one (files
 *   written before .sha256 files existed are verified by decoding alone, with a warning);
 * - files the manifest does not name (a save cut off before its manifest write) are
 *   moved aside as `*.unlisted-<time>`; older than every kept version while `keep` is
 *   set, they are leftovers of an interrupted prune and are removed;
 * - nothing verifiable left while version files exist: FlockError('store-damaged').
 *
 * The highest version number seen anywhere (entries, live files, files moved aside,
 * .tmp leftovers) is reported so the store never hands out a used number again.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FlockError } from '../../shared/errors.ts';
import { decodeWeights, type WeightsFile } from '../../shared/update/tensor-codec.ts';
import { fsyncDir } from '../runtime/fsync-dir.ts';
import { fileStamp, moveAside, writeDurable } from './durable-file.ts';
import { MANIFEST_FILE, MANIFEST_FORMAT_VERSION, readManifest, type Manifest, type ManifestEntry } from './manifest.ts';
import { parsePrivacyRecord } from './privacy-record.ts';
import { checksumFile, parseChecksums, parseVersionFileName, privacyFile, serverStateFile, sha256, type VersionFileRole } from './version-files.ts';

interface Move {
  rel: string;
  tag: 'damaged' | 'unlisted';
  reason: string;
}

export interface RecoveryPlan {
  /** The manifest the store runs with (undefined: an empty store). */
  manifest: Manifest | undefined;
  rewriteManifest: boolean;
  moves: Move[];
  deletes: { rel: string; reason: string }[];
  /** Warnings that are not about one moved or deleted file. */
  warnings: string[];
  /** Highest version number any file or manifest entry uses; -1 when none. */
  highestVersion: number;
}

type Check =
  | { ok: true; file: WeightsFile; sha256: string; bytes: number }
  | { ok: false; reason: string };

/** Reads and verifies one weights or state file against what is known about it. */
async function checkFile(dataDir: string, rel: string, version: number, expect: { sha256?: string; bytes?: number; modelKind?: string }): Promise<Check> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(join(dataDir, rel)));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? `${rel} is missing` : `${rel} cannot be read (${(e as Error).message})` };
  }
  if (expect.bytes !== undefined && bytes.length !== expect.bytes) return { ok: false, reason: `${rel} has ${bytes.length} bytes, ${expect.bytes} were written` };
  const sum = sha256(bytes);
  if (expect.sha256 !== undefined && sum !== expect.sha256) return { ok: false, reason: `${rel} does not match its recorded sha256` };
  let file: WeightsFile;
  try {
    file = decodeWeights(bytes);
  } catch (e) {
    return { ok: false, reason: `${rel} cannot be decoded (${(e as Error).message})` };
  }
  if (file.version !== version) return { ok: false, reason: `${rel} holds version ${file.version}, not ${version}` };
  if (expect.modelKind !== undefined && file.modelKind !== expect.modelKind) return { ok: false, reason: `${rel} holds model '${file.modelKind}', not '${expect.modelKind}'` };
  return { ok: true, file, sha256: sum, bytes: bytes.length };
}

interface LiveFile {
  version: number;
  role: VersionFileRole;
  rel: string;
}

async function scan(dataDir: string): Promise<{ live: LiveFile[]; tmp: string[]; highest: number }> {
  const live: LiveFile[] = [];
  const tmp: string[] = [];
  let highest = -1;
  for (const name of await readdir(join(dataDir, 'versions'))) {
    if (name.endsWith('.tmp')) tmp.push(`versions/${name}`);
    const parsed = parseVersionFileName(name);
    if (!parsed) continue;
    highest = Math.max(highest, parsed.version);
    if (parsed.role && !name.endsWith('.tmp')) live.push({ version: parsed.version, role: parsed.role, rel: `versions/${name}` });
  }
  for (const name of await readdir(dataDir)) if (name.endsWith('.tmp')) tmp.push(name);
  live.sort((a, b) => a.version - b.version);
  return { live, tmp, highest };
}

const refuse = (dataDir: string, what: string): FlockError =>
  new FlockError('store-damaged', `${dataDir}: ${what}. Nothing was changed. Restore manifest.json and versions/ from a backup, or move ${dataDir} aside (keep it for inspection) to start this model again from new initial weights.`);

/** Files of `version` among `live`, for moving them all aside together. */
const filesOf = (live: LiveFile[], version: number): LiveFile[] => live.filter((f) => f.version === version);

/** Reads a privacy file; with `expectSha`, also checks it. Never throws. */
async function checkPrivacyFile(dataDir: string, rel: string, version: number, expect: { sha256?: string; bytes?: number; modelKind?: string }): Promise<{ ok: boolean; reason?: string; sha256?: string; bytes?: number; epsilon?: number; rounds?: number }> {
  let text: string;
  try {
    text = await readFile(join(dataDir, rel), 'utf8');
  } catch (e) {
    return { ok: false, reason: `${rel} cannot be read (${(e as Error).message})` };
  }
  const sum = sha256(text);
  const bytes = Buffer.byteLength(text);
  if (expect.bytes !== undefined && bytes !== expect.bytes) return { ok: false, reason: `${rel} has ${bytes} bytes, ${expect.bytes} were written`, sha256: sum, bytes };
  if (expect.sha256 !== undefined && sum !== expect.sha256) return { ok: false, reason: `${rel} does not match its recorded sha256`, sha256: sum, bytes };
  const parsed = parsePrivacyRecord(text, version, expect.modelKind);
  if (!parsed.ok) return { ok: false, reason: `${rel} ${parsed.reason}`, sha256: sum, bytes };
  return { ok: true, sha256: sum, bytes, epsilon: parsed.record.ledger.epsilon, rounds: parsed.record.ledger.rounds };
}

const keptPrivacyWarning = (version: number, reason: string | undefined): string =>
  `version ${version}: its privacy record ${reason}; it is left in place (spent privacy must not vanish): a coordinator with differential privacy refuses to start until it is restored from a backup`;

async function planFromManifest(dataDir: string, manifest: Manifest, live: LiveFile[], moves: Move[], warnings: string[]): Promise<{ entries: ManifestEntry[]; changed: boolean }> {
  const entries = [...manifest.entries];
  const failures: string[] = [];
  let changed = false;
  while (entries.length > 0) {
    const e = entries[entries.length - 1];
    const check = await checkFile(dataDir, e.file, e.version, { sha256: e.sha256, bytes: e.bytes, modelKind: manifest.modelKind });
    if (check.ok) {
      if (e.serverState) {
        const s = await checkFile(dataDir, e.serverState.file, e.version, { sha256: e.serverState.sha256, bytes: e.serverState.bytes });
        if (!s.ok) {
          if (live.some((f) => f.rel === e.serverState!.file)) moves.push({ rel: e.serverState.file, tag: 'damaged', reason: `version ${e.version}: ${s.reason}; the server optimizer's moments restart from zero` });
          const { serverState: _dropped, ...rest } = e;
          entries[entries.length - 1] = rest;
          changed = true;
        }
      }
      if (e.privacy) {
        const p = await checkPrivacyFile(dataDir, e.privacy.file, e.version, { sha256: e.privacy.sha256, bytes: e.privacy.bytes, modelKind: manifest.modelKind });
        if (!p.ok) warnings.push(keptPrivacyWarning(e.version, p.reason));
      }
      break;
    }
    failures.push(`version ${e.version}: ${check.reason}`);
    for (const f of filesOf(live, e.version)) moves.push({ rel: f.rel, tag: 'damaged', reason: `version ${e.version} is damaged (${check.reason})` });
    entries.pop();
    changed = true;
  }
  if (entries.length === 0 && manifest.entries.length > 0) {
    throw refuse(dataDir, `no version the manifest lists verifies (${failures.join('; ')})`);
  }
  return { entries, changed };
}

async function planRebuild(dataDir: string, live: LiveFile[], moves: Move[], warnings: string[]): Promise<Manifest | undefined> {
  const weights = live.filter((f) => f.role === 'weights').reverse(); // newest first
  if (weights.length === 0) return undefined;
  let modelKind: string | undefined;
  const entries: ManifestEntry[] = [];
  const failures: string[] = [];
  const unchecked: number[] = [];
  for (const w of weights) {
    const v = w.version;
    let sums: Map<string, string> | undefined;
    const sumsRel = checksumFile(v);
    if (live.some((f) => f.rel === sumsRel)) {
      sums = parseChecksums(await readFile(join(dataDir, sumsRel), 'utf8').catch(() => ''));
    }
    const name = (rel: string) => rel.slice('versions/'.length);
    const check = await checkFile(dataDir, w.rel, v, { sha256: sums?.get(name(w.rel)), modelKind });
    if (!check.ok) {
      failures.push(`version ${v}: ${check.reason}`);
      for (const f of filesOf(live, v)) moves.push({ rel: f.rel, tag: 'damaged', reason: `version ${v} does not verify (${check.reason})` });
      continue;
    }
    modelKind ??= check.file.modelKind;
    if (!sums?.has(name(w.rel))) unchecked.push(v);
    const stat0 = await stat(join(dataDir, w.rel));
    const entry: ManifestEntry = { version: v, round: check.file.round, file: w.rel, sha256: check.sha256, bytes: check.bytes, createdAt: stat0.mtime.toISOString() };
    const stateRel = serverStateFile(v);
    if (live.some((f) => f.rel === stateRel)) {
      const s = await checkFile(dataDir, stateRel, v, { sha256: sums?.get(name(stateRel)) });
      if (s.ok) entry.serverState = { file: stateRel, sha256: s.sha256, bytes: s.bytes };
      else moves.push({ rel: stateRel, tag: 'damaged', reason: `version ${v}: ${s.reason}` });
    }
    const privacyRel = privacyFile(v);
    if (live.some((f) => f.rel === privacyRel)) {
      // Listed even when it does not verify: with the sha256 the .sha256 file expects, so
      // that readPrivacy reports it damaged instead of the version looking trained without DP.
      const expected = sums?.get(name(privacyRel));
      const p = await checkPrivacyFile(dataDir, privacyRel, v, { sha256: expected, modelKind });
      if (p.ok) entry.privacy = { file: privacyRel, sha256: p.sha256!, bytes: p.bytes!, epsilon: p.epsilon, rounds: p.rounds };
      else {
        entry.privacy = { file: privacyRel, sha256: expected ?? p.sha256 ?? '0'.repeat(64), bytes: p.bytes ?? 0 };
        warnings.push(keptPrivacyWarning(v, p.reason));
      }
    }
    entries.push(entry);
  }
  if (entries.length === 0) {
    throw refuse(dataDir, `${MANIFEST_FILE} is missing or damaged and none of the ${weights.length} version files verifies (${failures.join('; ')})`);
  }
  entries.reverse();
  if (unchecked.length > 0) {
    warnings.push(`versions ${unchecked.join(', ')} have no .sha256 file (written by an older Flock, or a save cut off before it): verified by decoding only, so damaged float bytes would go unnoticed`);
  }
  warnings.push(`rebuilt ${MANIFEST_FILE} from ${entries.length} verified version files (versions ${entries[0].version}..${entries[entries.length - 1].version})${failures.length > 0 ? `; ${failures.length} damaged moved aside` : ''}`);
  return { formatVersion: MANIFEST_FORMAT_VERSION, modelKind: modelKind!, entries };
}

/** Works out what open() must do to `dataDir` (which must contain versions/); touches nothing. */
export async function planRecovery(dataDir: string, keep: number | undefined): Promise<RecoveryPlan> {
  const { live, tmp, highest } = await scan(dataDir);
  const moves: Move[] = [];
  const warnings: string[] = [];
  const deletes = tmp.map((rel) => ({ rel, reason: 'leftover temporary file of an interrupted write (never listed in the manifest)' }));
  const read = await readManifest(dataDir);
  let manifest: Manifest | undefined;
  let rewriteManifest = false;
  let highestVersion = highest;
  if (read.status === 'ok' && (read.manifest.entries.length > 0 || !live.some((f) => f.role === 'weights'))) {
    highestVersion = Math.max(highestVersion, ...read.manifest.entries.map((e) => e.version));
    const { entries, changed } = await planFromManifest(dataDir, read.manifest, live, moves, warnings);
    manifest = { ...read.manifest, entries };
    rewriteManifest = changed;
  } else {
    if (read.status === 'ok') warnings.push(`${MANIFEST_FILE} lists no versions but version files exist; rebuilding it from them`);
    if (read.status === 'damaged') moves.push({ rel: MANIFEST_FILE, tag: 'damaged', reason: `${MANIFEST_FILE} ${read.reason}; rebuilding it from the version files` });
    manifest = await planRebuild(dataDir, live, moves, warnings);
    rewriteManifest = manifest !== undefined;
  }

  // Live files the manifest does not name.
  const moving = new Set(moves.map((m) => m.rel));
  const kept = new Map((manifest?.entries ?? []).map((e) => [e.version, e]));
  const oldest = manifest?.entries[0]?.version ?? Infinity;
  for (const f of live) {
    if (moving.has(f.rel)) continue;
    const e = kept.get(f.version);
    const listed = e !== undefined && (f.role === 'server' ? e.serverState?.file === f.rel : f.role === 'privacy' ? e.privacy?.file === f.rel : true);
    if (listed) continue;
    if (keep !== undefined && f.version < oldest) {
      deletes.push({ rel: f.rel, reason: `left over from pruning old versions (keep ${keep})` });
    } else {
      moves.push({ rel: f.rel, tag: 'unlisted', reason: `${f.rel} is not listed in ${MANIFEST_FILE} (a save cut off before its manifest write?)` });
    }
  }
  return { manifest, rewriteManifest, moves, deletes, warnings, highestVersion };
}

/** Carries out a plan: removals, moves aside, the rewritten manifest; then warns about each. */
export async function applyRecovery(dataDir: string, plan: RecoveryPlan, warn: (m: string) => void): Promise<void> {
  const stamp = fileStamp();
  for (const d of plan.deletes) {
    await rm(join(dataDir, d.rel), { force: true });
    warn(`removed ${d.rel}: ${d.reason}`);
  }
  for (const m of plan.moves) {
    const target = await moveAside(dataDir, m.rel, m.tag, stamp);
    warn(`${m.reason}; moved it aside as ${target}`);
  }
  if (plan.rewriteManifest && plan.manifest) {
    await writeDurable(dataDir, MANIFEST_FILE, JSON.stringify(plan.manifest, null, 2) + '\n', 'replace');
    const newest = plan.manifest.entries.at(-1);
    warn(`rewrote ${MANIFEST_FILE}: ${plan.manifest.entries.length} versions, resuming from ${newest ? `version ${newest.version}` : 'an empty store'}`);
  }
  if (plan.deletes.length + plan.moves.length > 0) {
    await fsyncDir(join(dataDir, 'versions'));
    await fsyncDir(dataDir);
  }
  for (const w of plan.warnings) warn(w);
}
