/** Helpers shared by the checkpoint store's tests (real files in a temporary folder). */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { decodeWeights, type WeightsFile } from '../../shared/update/tensor-codec.ts';
import type { CheckpointStore } from './checkpoint-store.ts';
import { parseVersionFileName } from './version-files.ts';

/** A fresh data dir path (not yet created) under a temporary folder, and its removal. */
export async function tempDataDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'flock-store-'));
  return { dir: join(root, 'data'), cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Makes fresh data dirs (as tempDataDir), every one removed after the calling test file's tests. */
export function dataDirsRemovedAfterTests(): () => Promise<string> {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });
  return async () => {
    const t = await tempDataDir();
    cleanups.push(t.cleanup);
    return t.dir;
  };
}

export const weights = (version: number, floats = 3, modelKind = 'mf'): WeightsFile => ({
  version,
  modelKind,
  round: version,
  tensors: [{ name: 'w', shape: [floats], data: Float32Array.from({ length: floats }, (_, i) => version + i / 8) }],
});

export const serverState = (version: number): WeightsFile => ({
  version,
  modelKind: 'mf/server-momentum',
  round: version,
  tensors: [{ name: 'm/w', shape: [3], data: Float32Array.from([version, 0, -1]) }],
});

/** Every file name under versions/ and the data dir itself, sorted. */
export async function listing(dir: string): Promise<string[]> {
  const top = (await readdir(dir)).filter((n) => n !== 'versions');
  const versions = (await readdir(join(dir, 'versions'))).map((n) => `versions/${n}`);
  return [...top, ...versions].sort();
}

/** Every file's bytes, by path: to show that something changed nothing. */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const rel of await listing(dir)) out.set(rel, (await readFile(join(dir, rel))).toString('base64'));
  return out;
}

/** Flips the last byte of a file (same length: only a checksum can tell). */
export async function flipLastByte(path: string): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  const b = await readFile(path);
  b[b.length - 1] ^= 0xff;
  await writeFile(path, b);
}

/**
 * What must hold after any open(): every listed version (and its server state) reads
 * back verified and holds its own number; every live version file is listed; no .tmp
 * survives; nextVersion() is past every version number on disk.
 */
export async function assertSound(dir: string, store: CheckpointStore): Promise<void> {
  for (const e of store.entries()) {
    const bytes = await store.readVersion(e.version);
    assert.ok(bytes, `listed version ${e.version} must verify`);
    assert.equal(decodeWeights(bytes).version, e.version);
    if (e.serverState) assert.equal((await store.readServerState(e.version))?.version, e.version, `server state of ${e.version} must verify`);
  }
  const listed = new Set(store.entries().flatMap((e) => [e.file, `versions/v${String(e.version).padStart(6, '0')}.sha256`, ...(e.serverState ? [e.serverState.file] : []), ...(e.privacy ? [e.privacy.file] : [])]));
  for (const rel of await listing(dir)) {
    assert.ok(!rel.endsWith('.tmp'), `${rel} survived open()`);
    if (!rel.startsWith('versions/')) continue;
    const parsed = parseVersionFileName(rel.slice('versions/'.length));
    if (!parsed) continue;
    assert.ok(store.nextVersion() > parsed.version, `nextVersion() ${store.nextVersion()} must be past ${rel}`);
    if (parsed.role) assert.ok(listed.has(rel), `${rel} is live but not listed in the manifest`);
  }
}
