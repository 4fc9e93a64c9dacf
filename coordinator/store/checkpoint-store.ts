/**
 * Durable, crash-safe storage of global weight versions under `dataDir`:
 *
 *   versions/v000123.flkw   one encoded WeightsFile per version (tensor-codec.ts)
 *   versions/v000123.server.flkw   the server optimizer's state after that version
 *                           (momentum / adam moments; absent for plain FedAvg)
 *   manifest.json           { formatVersion, modelKind, entries: [...] }, oldest first
 *   rounds.jsonl            one JSON record per finished round
 *
 * Every file is replaced atomically (write *.tmp, fsync, rename, fsync the directory),
 * so a crash leaves either the old or the new file, never a torn one. The weights file
 * is renamed into place before the manifest names it; a version is only "complete"
 * once the manifest lists it AND its bytes still match the recorded sha256. latest()
 * walks the entries newest first and falls back past broken ones.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { FlockError } from '../../shared/errors.ts';
import { decodeWeights, encodeWeights, type WeightsFile } from '../../shared/update/tensor-codec.ts';

export const MANIFEST_FORMAT_VERSION = 1;

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
}

export interface Manifest {
  formatVersion: number;
  modelKind: string;
  entries: ManifestEntry[];
}

export interface CheckpointStoreOptions {
  /** Called for anything skipped or repaired (broken version, torn log line, stale tmp). */
  onWarning?: (message: string) => void;
  /** Keep only the newest `keep` versions (default: keep all). */
  keep?: number;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const versionFile = (v: number): string => `versions/v${String(v).padStart(6, '0')}.flkw`;
const serverStateFile = (v: number): string => `versions/v${String(v).padStart(6, '0')}.server.flkw`;

/** Writes `data` to `path` atomically and durably. */
async function writeAtomic(dir: string, path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(dir);
}

/** Makes a rename durable. Some platforms cannot fsync a directory; that is not fatal. */
async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    await fh?.close();
  }
}

export class CheckpointStore {
  /** Serialises writers so concurrent save()/appendRound() calls cannot interleave. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dataDir: string,
    private manifest: Manifest | undefined,
    private readonly opts: CheckpointStoreOptions,
  ) {}

  static async open(dataDir: string, opts: CheckpointStoreOptions = {}): Promise<CheckpointStore> {
    if (opts.keep !== undefined && (!Number.isInteger(opts.keep) || opts.keep < 1)) {
      throw new FlockError('bad-config', `keep must be a positive integer, got ${opts.keep}`);
    }
    const warn = opts.onWarning ?? (() => {});
    const versionsDir = join(dataDir, 'versions');
    await mkdir(versionsDir, { recursive: true });
    // Leftovers of a crash mid-write: never listed in the manifest, safe to drop.
    for (const dir of [dataDir, versionsDir]) {
      for (const name of await readdir(dir)) {
        if (name.endsWith('.tmp')) {
          warn(`removing leftover temporary file ${join(dir, name)}`);
          await rm(join(dir, name), { force: true });
        }
      }
    }
    let manifest: Manifest | undefined;
    try {
      const parsed = JSON.parse(await readFile(join(dataDir, 'manifest.json'), 'utf8')) as Manifest;
      if (parsed.formatVersion !== MANIFEST_FORMAT_VERSION) {
        throw new FlockError('unsupported-format', `manifest format version ${parsed.formatVersion} not supported (expected ${MANIFEST_FORMAT_VERSION})`);
      }
      if (typeof parsed.modelKind !== 'string' || !Array.isArray(parsed.entries)) {
        throw new FlockError('malformed', `manifest ${join(dataDir, 'manifest.json')} lacks modelKind or entries`);
      }
      manifest = parsed;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        if (e instanceof FlockError) throw e;
        throw new FlockError('malformed', `cannot read manifest ${join(dataDir, 'manifest.json')}: ${(e as Error).message}`);
      }
    }
    await repairTornTail(join(dataDir, 'rounds.jsonl'), warn);
    return new CheckpointStore(dataDir, manifest, opts);
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
   * Saves a new version (must be newer than every saved one, same modelKind), with the
   * server optimizer's state after it when given. Both files are in place before the
   * manifest names them, so a crash leaves the previous version and state current.
   */
  save(w: WeightsFile, serverState?: WeightsFile): Promise<void> {
    return this.serial(async () => {
      const prev = this.manifest;
      if (prev && prev.modelKind !== w.modelKind) {
        throw new FlockError('bad-config', `data dir ${this.dataDir} holds model ${prev.modelKind}, cannot save ${w.modelKind}`);
      }
      const last = prev?.entries.at(-1);
      if (last && w.version <= last.version) {
        throw new FlockError('wrong-version', `version ${w.version} is not newer than saved version ${last.version}`);
      }
      const bytes = encodeWeights(w);
      const file = versionFile(w.version);
      await writeAtomic(join(this.dataDir, 'versions'), join(this.dataDir, file), bytes);
      const entry: ManifestEntry = {
        version: w.version,
        round: w.round,
        file,
        sha256: sha256(bytes),
        bytes: bytes.length,
        createdAt: new Date().toISOString(),
      };
      if (serverState) {
        const stateBytes = encodeWeights(serverState);
        const stateFile = serverStateFile(w.version);
        await writeAtomic(join(this.dataDir, 'versions'), join(this.dataDir, stateFile), stateBytes);
        entry.serverState = { file: stateFile, sha256: sha256(stateBytes), bytes: stateBytes.length };
      }
      let entries = [...(prev?.entries ?? []), entry];
      let dropped: ManifestEntry[] = [];
      if (this.opts.keep !== undefined && entries.length > this.opts.keep) {
        dropped = entries.slice(0, entries.length - this.opts.keep);
        entries = entries.slice(entries.length - this.opts.keep);
      }
      const next: Manifest = { formatVersion: MANIFEST_FORMAT_VERSION, modelKind: w.modelKind, entries };
      await writeAtomic(this.dataDir, join(this.dataDir, 'manifest.json'), JSON.stringify(next, null, 2) + '\n');
      this.manifest = next;
      // Only delete old files after the manifest no longer names them.
      for (const e of dropped) {
        await rm(join(this.dataDir, e.file), { force: true });
        if (e.serverState) await rm(join(this.dataDir, e.serverState.file), { force: true });
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
