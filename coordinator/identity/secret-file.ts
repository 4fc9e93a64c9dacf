import { fsyncDir } from '../runtime/fsync-dir.ts';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a file only its owner can read (mode 0600) atomically and durably: a
 * temporary file created with that mode, fsynced, renamed over the target, and the
 * directory fsynced. A crash leaves either the old file or the new one, never half.
 */
export async function writeSecretFile(file: string, data: string): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  // The umask cannot widen 0600, but an existing target's mode is not inherited either: be explicit.
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  await fsyncDir(dir);
}

/** True when group or others may read the file (a secret should be 0600). */
export async function readableByOthers(file: string): Promise<boolean> {
  if (process.platform === 'win32') return false;
  return ((await stat(file)).mode & 0o077) !== 0;
}
