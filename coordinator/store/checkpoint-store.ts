/**
 * Durable, crash-safe storage of global weight versions under `dataDir`:
 *
 *   versions/v000123.flkw   one encoded WeightsFile per version (tensor-codec.ts)
 *   versions/v000123.server.flkw   the server optimizer's state after that version
 *                           (momentum / adam moments; absent for plain FedAvg)
 *   versions/v000123.privacy.json  the privacy spent up to that version, under
 *                           differential privacy (privacy-record.ts; absent otherwise)
 *   versions/v000123.sha256 each of these files' sha256 (`sha256sum -c` format), so a
 *                           lost manifest can be rebuilt from verified files
 *   manifest.json           { formatVersion, modelKind, entries: [...] }, oldest first
 *   rounds.jsonl            one JSON record per finished round
 *
 * Every file is written as *.tmp, fsynced, put in place and the directory fsynced, so
 * a crash leaves either the old or the new file, never a torn one. Version files are
 * put in place exclusively: one is never overwritten. The version's files are in place
 * before the manifest names them; a version is only "complete" once the manifest lists
 * it AND its bytes still match the recorded sha256.
 *
 * Version numbers only move forward: nextVersion() is one past the highest number
 * seen anywhere (manifest, live files, files moved aside), and save() refuses any
 * lower one. Clients and HTTP caches keep weights by version number, so a number,
 * once written to disk, is never given to other weights.
 *
 * open() repairs what a crash or damage left (store-recovery.ts): damaged newest
 * versions are moved aside and the store resumes from the newest good one; a missing
 * or damaged manifest is rebuilt from the verified files; if nothing verifies, it
 * refuses to start with FlockError('store-damaged') instead of starting over.
 */
import { mkdir, open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { FlockError } from '../../shared/errors.ts';
import { decodeWeights, encodeWeights, type WeightsFile } from '../../shared/update/tensor-codec.ts';
import { exists, writeDurable, type FaultHook } from './durable-file.ts';
import { MANIFEST_FILE, MANIFEST_FORMAT_VERSION, type Manifest, type ManifestEntry } from './manifest.ts';
import { encodePrivacyRecord, parsePrivacyRecord, type PrivacyRead, type PrivacyRecord } from './privacy-record.ts';
import { applyRecovery, planRecovery } from './store-recovery.ts';
import { checksumFile, formatChecksums, privacyFile, serverStateFile, sha256, versionFile } from './version-files.ts';

export { MANIFEST_FORMAT_VERSION, type Manifest, type ManifestEntry };
export type { FaultHook, SaveStep } from './durable-file.ts';

export interface CheckpointStoreOptions {
  /** Called for anything skipped or repaired (broken version, torn log line, stale tmp). */
  onWarning?: (message: string) => void;
  /** Keep only the newest `keep` versions (default: keep all). */
  keep?: number;
  /**
   * Test and drill seam: awaited at each step of a save (see SaveStep) with the file it
   * concerns, relative to dataDir. Throwing fails the save there, as a crash would.
   */
  faults?: FaultHook;
}

export class CheckpointStore {
  /** Serialises writers so concurrent save()/appendRound() calls cannot interleave. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dataDir: string,
    private manifest: Manifest | undefined,
    /** The lowest version number save() accepts. */
    private next: number,
    private readonly opts: CheckpointStoreOptions,
  ) {}

  static async open(dataDir: string, opts: CheckpointStoreOptions = {}): Promise<CheckpointStore> {
    if (opts.keep !== undefined && (!Number.isInteger(opts.keep) || opts.keep < 1)) {
      throw new FlockError('bad-config', `keep must be a positive integer, got ${opts.keep}`);
    }
    const warn = opts.onWarning ?? (() => {});
    await mkdir(join(dataDir, 'versions'), { recursive: true });
    const plan = await planRecovery(dataDir, opts.keep);
    await applyRecovery(dataDir, plan, warn);
    await repairTornTail(join(dataDir, 'rounds.jsonl'), warn);
    return new CheckpointStore(dataDir, plan.manifest, plan.highestVersion + 1, opts);
  }

  /**
   * The version number the next save must use (or exceed): one past the highest version
   * number found on disk at open (manifest entries, live files, files moved aside, .tmp
   * leftovers) or used by a save since, even a failed one. Only a number whose sole trace
   * was a .tmp file (removed by open) can come back: no reader ever saw it.
   */
  nextVersion(): number {
    return this.next;
  }

  private warn(msg: string): void {
    this.opts.onWarning?.(msg);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Manifest entries, oldest first (a copy). */
  entries(): ManifestEntry[] {
    return [...(this.manifest?.entries ?? [])];
  }

  /** Raw verified bytes of one version, or undefined if unknown or broken. */
  async readVersion(version: number): Promise<Uint8Array | undefined> {
    const e = this.manifest?.entries.find((x) => x.version === version);
    return e ? this.readEntry(e) : undefined;
  }

  private async readEntry(e: ManifestEntry): Promise<Uint8Array | undefined> {
    return this.readVerified(e.version, e);
  }

  private async readVerified(version: number, f: { file: string; sha256: string; bytes: number }): Promise<Uint8Array | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(join(this.dataDir, f.file)));
    } catch (err) {
      this.warn(`version ${version}: cannot read ${f.file}: ${(err as Error).message}`);
      return undefined;
    }
    if (bytes.length !== f.bytes || sha256(bytes) !== f.sha256) {
      this.warn(`version ${version}: ${f.file} does not match its manifest checksum; skipping`);
      return undefined;
    }
    return bytes;
  }

  /** The server optimizer state saved with a version (verified), or undefined if none or broken. */
  async readServerState(version: number): Promise<WeightsFile | undefined> {
    const e = this.manifest?.entries.find((x) => x.version === version);
    if (!e?.serverState) return undefined;
    const bytes = await this.readVerified(version, e.serverState);
    if (!bytes) return undefined;
    try {
      return decodeWeights(bytes);
    } catch (err) {
      this.warn(`version ${version}: ${e.serverState.file} cannot be decoded: ${(err as Error).message}`);
      return undefined;
    }
  }

  /**
   * The privacy record saved with a version: 'none' when the version has none (trained
   * without differential privacy, or initial weights), 'damaged' when the manifest names
   * one that is missing, fails its checksum or does not parse.
   */
  async readPrivacy(version: number): Promise<PrivacyRead> {
    const e = this.manifest?.entries.find((x) => x.version === version);
    if (!e?.privacy) return { status: 'none' };
    let text: string;
    try {
      text = await readFile(join(this.dataDir, e.privacy.file), 'utf8');
    } catch (err) {
      return { status: 'damaged', reason: `${e.privacy.file} cannot be read (${(err as Error).message})` };
    }
    if (Buffer.byteLength(text) !== e.privacy.bytes || sha256(text) !== e.privacy.sha256) {
      return { status: 'damaged', reason: `${e.privacy.file} does not match its recorded sha256` };
    }
    const parsed = parsePrivacyRecord(text, version, this.manifest?.modelKind);
    return parsed.ok ? { status: 'ok', record: parsed.record } : { status: 'damaged', reason: `${e.privacy.file} ${parsed.reason}` };
  }

  /**
   * Versions above `version` whose weights were moved aside as damaged (by this open or
   * an earlier one), with what their moved-aside privacy file says. Such a version was
   * (or may have been) published before it was damaged: under differential privacy its
   * round stays spent even though the model resumes from an older version.
   */
  async damagedVersionsAfter(version: number): Promise<{ version: number; privacy: PrivacyRead }[]> {
    const names = await readdir(join(this.dataDir, 'versions'));
    const lost = new Set<number>();
    const privacyNames = new Map<number, string[]>();
    for (const name of names) {
      const m = /^v(\d+)\.(flkw|privacy\.json)\.damaged-/.exec(name);
      if (!m || Number(m[1]) <= version) continue;
      const v = Number(m[1]);
      if (m[2] === 'flkw') lost.add(v);
      else privacyNames.set(v, [...(privacyNames.get(v) ?? []), name]);
    }
    const out: { version: number; privacy: PrivacyRead }[] = [];
    for (const v of [...lost].sort((a, b) => a - b)) {
      const candidates = (privacyNames.get(v) ?? []).sort().reverse(); // newest stamp first
      let privacy: PrivacyRead = { status: 'none' };
      for (const name of candidates) {
        const text = await readFile(join(this.dataDir, 'versions', name), 'utf8').catch((err: Error) => err);
        const parsed = typeof text === 'string' ? parsePrivacyRecord(text, v, this.manifest?.modelKind) : { ok: false as const, reason: `cannot be read (${text.message})` };
        if (parsed.ok) {
          privacy = { status: 'ok', record: parsed.record };
          break;
        }
        privacy = { status: 'damaged', reason: `versions/${name} ${parsed.reason}` };
      }
      out.push({ version: v, privacy });
    }
    return out;
  }

  /** Newest complete version: verified checksum, decodes, matching version number. */
  async latest(): Promise<WeightsFile | undefined> {
    const entries = this.manifest?.entries ?? [];
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      const bytes = await this.readEntry(e);
      if (!bytes) continue;
      try {
        const w = decodeWeights(bytes);
        if (w.version !== e.version) throw new FlockError('malformed', `file holds version ${w.version}`);
        return w;
      } catch (err) {
        this.warn(`version ${e.version}: ${e.file} cannot be decoded: ${(err as Error).message}`);
      }
    }
    return undefined;
  }

  /**
   * Saves a new version with the server optimizer's state after it and, under
   * differential privacy, the privacy record of the release, when given. The
   * version must be ≥ nextVersion() and of this store's model; a version whose files
   * already exist is refused (FlockError 'wrong-version') without writing anything.
   * The weights, state, privacy and .sha256 files are in place before the manifest names them,
   * so a crash leaves the previous version current. Once writing starts the number is
   * spent: after a failed save, nextVersion() is past it.
   */
  save(w: WeightsFile, serverState?: WeightsFile, privacy?: PrivacyRecord): Promise<void> {
    return this.serial(async () => {
      const prev = this.manifest;
      if (prev && prev.modelKind !== w.modelKind) {
        throw new FlockError('bad-config', `data dir ${this.dataDir} holds model ${prev.modelKind}, cannot save ${w.modelKind}`);
      }
      if (!Number.isSafeInteger(w.version) || w.version < this.next) {
        throw new FlockError('wrong-version', `cannot save version ${w.version} in ${this.dataDir}: the next free version is ${this.next} (version numbers are never reused, even for versions moved aside); save as store.nextVersion()`);
      }
      if (privacy && (privacy.version !== w.version || privacy.modelKind !== w.modelKind)) {
        throw new FlockError('bad-config', `privacy record of ${privacy.modelKind} version ${privacy.version} cannot be saved with ${w.modelKind} version ${w.version}`);
      }
      const file = versionFile(w.version);
      const stateFile = serverStateFile(w.version);
      const privFile = privacyFile(w.version);
      const sumsFile = checksumFile(w.version);
      for (const rel of [file, stateFile, privFile, sumsFile]) {
        if (await exists(join(this.dataDir, rel))) {
          throw new FlockError('wrong-version', `${join(this.dataDir, rel)} already exists; refusing to overwrite it. Is a second coordinator writing to ${this.dataDir}? Stop it, then restart this one.`);
        }
      }
      const bytes = encodeWeights(w);
      const stateBytes = serverState ? encodeWeights(serverState) : undefined;
      const privacyText = privacy ? encodePrivacyRecord(privacy) : undefined;
      const entry: ManifestEntry = {
        version: w.version,
        round: w.round,
        file,
        sha256: sha256(bytes),
        bytes: bytes.length,
        createdAt: new Date().toISOString(),
      };
      if (stateBytes) entry.serverState = { file: stateFile, sha256: sha256(stateBytes), bytes: stateBytes.length };
      if (privacy && privacyText !== undefined) {
        entry.privacy = { file: privFile, sha256: sha256(privacyText), bytes: Buffer.byteLength(privacyText), epsilon: privacy.ledger.epsilon, rounds: privacy.ledger.rounds };
      }
      let entries = [...(prev?.entries ?? []), entry];
      let dropped: ManifestEntry[] = [];
      if (this.opts.keep !== undefined && entries.length > this.opts.keep) {
        dropped = entries.slice(0, entries.length - this.opts.keep);
        entries = entries.slice(entries.length - this.opts.keep);
      }
      const next: Manifest = { formatVersion: MANIFEST_FORMAT_VERSION, modelKind: w.modelKind, entries };
      const fault = this.opts.faults;

      this.next = w.version + 1; // from here on files of this version may exist
      try {
        await writeDurable(this.dataDir, file, bytes, 'exclusive', fault);
        if (stateBytes) await writeDurable(this.dataDir, stateFile, stateBytes, 'exclusive', fault);
        if (privacyText !== undefined) await writeDurable(this.dataDir, privFile, privacyText, 'exclusive', fault);
        const sums = [{ name: file.slice('versions/'.length), sha256: entry.sha256 }];
        if (entry.serverState) sums.push({ name: stateFile.slice('versions/'.length), sha256: entry.serverState.sha256 });
        if (entry.privacy) sums.push({ name: privFile.slice('versions/'.length), sha256: entry.privacy.sha256 });
        await writeDurable(this.dataDir, sumsFile, formatChecksums(sums), 'exclusive', fault);
        await writeDurable(this.dataDir, MANIFEST_FILE, JSON.stringify(next, null, 2) + '\n', 'replace', fault);
      } catch (err) {
        // Files already in place stay: the next open() moves them aside if the manifest
        // does not name them. Only this save's temporary files go.
        for (const rel of [file, stateFile, privFile, sumsFile, MANIFEST_FILE]) await rm(join(this.dataDir, `${rel}.tmp`), { force: true }).catch(() => {});
        throw err;
      }
      this.manifest = next;
      // Only delete old files after the manifest no longer names them. The version is
      // saved whatever happens here; leftovers are removed by the next open().
      for (const e of dropped) {
        for (const rel of [e.file, e.serverState?.file, e.privacy?.file, checksumFile(e.version)]) {
          if (rel === undefined) continue;
          try {
            await fault?.('dropping', rel);
            await rm(join(this.dataDir, rel), { force: true });
          } catch (err) {
            this.warn(`could not remove ${rel} of pruned version ${e.version} (${(err as Error).message}); the next start removes it`);
          }
        }
      }
    });
  }

  /** Appends one JSON line to rounds.jsonl and fsyncs it. */
  appendRound(record: object): Promise<void> {
    return this.serial(async () => {
      const fh = await open(join(this.dataDir, 'rounds.jsonl'), 'a');
      try {
        await fh.writeFile(JSON.stringify(record) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
  }

  /** Round records, oldest first; with `limit`, only the newest `limit`. Unparsable lines are skipped. */
  async rounds(limit?: number): Promise<object[]> {
    let text: string;
    try {
      text = await readFile(join(this.dataDir, 'rounds.jsonl'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: object[] = [];
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        out.push(JSON.parse(line) as object);
      } catch {
        // A torn final line (crash mid-append) is expected; anything else is worth a warning.
        if (i !== lines.length - 1) this.warn(`rounds.jsonl line ${i + 1} is not valid JSON; skipping`);
      }
    });
    return limit === undefined ? out : out.slice(Math.max(0, out.length - limit));
  }
}

/**
 * A crash mid-append can leave a last line without its newline; the next append would
 * glue a valid record onto it. Cut the file back to its last complete line.
 */
async function repairTornTail(path: string, warn: (m: string) => void): Promise<void> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (buf.length === 0 || buf[buf.length - 1] === 0x0a) return;
  const keep = buf.lastIndexOf(0x0a) + 1;
  warn(`rounds.jsonl ends with a torn line (${buf.length - keep} bytes); truncating it`);
  await truncate(path, keep);
}
