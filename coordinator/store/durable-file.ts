/**
 * Durable file writes for the checkpoint store: write `<name>.tmp`, fsync it, then put
 * it in place and fsync the directory, so a crash leaves the old file or the new one,
 * never a torn one. Two ways to put it in place:
 *
 * - 'replace' renames over the target (the manifest, which changes with every save);
 * - 'exclusive' hard-links the tmp file to the target, which fails if the target
 *   exists, then unlinks the tmp file: a version file is written once and never
 *   overwritten, even by a second writer racing this one. On a file system without
 *   hard links it falls back to check-then-rename (no protection against that race).
 *
 * Each step calls an optional fault hook, the seam the fault-injection tests and the
 * crash drill use to fail (or pause) a save at a named point.
 */
import { access, link, open, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FlockError } from '../../shared/errors.ts';
import { fsyncDir } from '../runtime/fsync-dir.ts';

/** Points of a save where the fault hook runs (`file` names which file, relative to the data dir). */
export type SaveStep = 'tmp-written' | 'tmp-synced' | 'renamed' | 'dropping';
export type FaultHook = (step: SaveStep, file: string) => void | Promise<void>;

export const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);


const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

const refuseOverwrite = (path: string): FlockError =>
  new FlockError('wrong-version', `${path} already exists; a version file is never overwritten. Is a second coordinator writing to this --data-dir? Stop it, then restart this one: it continues at the next free version.`);

/** Writes `data` to `dataDir/rel` durably; see the module comment for the two modes. */
export async function writeDurable(dataDir: string, rel: string, data: Uint8Array | string, mode: 'replace' | 'exclusive', fault?: FaultHook): Promise<void> {
  const path = join(dataDir, rel);
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fault?.('tmp-written', rel);
    await fh.sync();
    await fault?.('tmp-synced', rel);
  } finally {
    await fh.close();
  }
  if (mode === 'replace') {
    await rename(tmp, path);
  } else {
    try {
      await link(tmp, path);
      await unlink(tmp);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        await rm(tmp, { force: true });
        throw refuseOverwrite(path);
      }
      if (!code || !NO_HARD_LINKS.has(code)) throw e;
      if (await exists(path)) {
        await rm(tmp, { force: true });
        throw refuseOverwrite(path);
      }
      await rename(tmp, path);
    }
  }
  await fsyncDir(dirname(path));
  await fault?.('renamed', rel);
}

/** A timestamp safe in file names, e.g. 2025-01-31T12-00-00-000Z. */
export const fileStamp = (d = new Date()): string => d.toISOString().replace(/[:.]/g, '-');

/**
 * Renames `dataDir/rel` to `rel.<tag>-<stamp>` (never over an existing file) and returns
 * the new relative path. Nothing is deleted: an operator can inspect or restore it.
 */
export async function moveAside(dataDir: string, rel: string, tag: string, stamp: string): Promise<string> {
  for (let i = 1; ; i++) {
    const target = `${rel}.${tag}-${stamp}${i > 1 ? `-${i}` : ''}`;
    if (await exists(join(dataDir, target))) continue;
    await rename(join(dataDir, rel), join(dataDir, target));
    return target;
  }
}
