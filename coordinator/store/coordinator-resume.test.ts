/**
 * The coordinator's side of a damaged store (openModelFederation): it starts on the
 * newest good version instead of crash-looping, rebuilds a lost manifest, initialises
 * past every used number, and refuses to start when nothing verifies.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import pino from 'pino';
import { FlockError } from '../../shared/errors.ts';
import { decodeWeights } from '../../shared/update/tensor-codec.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { CheckpointStore } from './checkpoint-store.ts';
import { flipLastByte } from './store-test-fixtures.ts';

const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

const config = (dataDir: string): ServeConfig => ({ ...DEFAULT_SERVE_CONFIG, host: '127.0.0.1', port: 0, dataDir, dim: 4, models: ['mf'], staticDir: path.join(dataDir, 'none') });

/** A logger whose warnings and infos land in `lines`. */
function capture(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
  return { log: pino({ level: 'info' }, stream), lines };
}

/** Starts and stops a coordinator; returns the mf version it resumed at and its store's nextVersion(). */
async function startOnce(dataDir: string): Promise<{ version: number; next: number; lines: string[] }> {
  const { log, lines } = capture();
  const c = await startCoordinator(config(dataDir), log);
  try {
    const f = c.federations[0];
    return { version: f.engine.currentVersion, next: f.store.nextVersion(), lines };
  } finally {
    await c.close();
  }
}

test('coordinator start: damaged newest version → resumes at the previous; lost manifest → rebuilt; only moved-aside files → initialises past them; nothing verifiable → refuses', { timeout: 120_000 }, async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'flock-resume-'));
  roots.push(root);
  assert.equal((await startOnce(root)).version, 0);
  const mfDir = path.join(root, 'mf');
  // Two more versions of the right shapes, as rounds would have written them.
  const v0 = decodeWeights(new Uint8Array(await readFile(path.join(mfDir, 'versions/v000000.flkw'))));
  const store = await CheckpointStore.open(mfDir);
  for (const v of [1, 2]) await store.save({ ...v0, version: v, round: v });

  await flipLastByte(path.join(mfDir, 'versions/v000002.flkw'));
  const damaged = await startOnce(root);
  assert.equal(damaged.version, 1, 'resumes at the newest good version');
  assert.equal(damaged.next, 3, 'and the next save skips the number of the damaged one');
  assert.ok(damaged.lines.some((l) => l.includes('version 2 is damaged') && l.includes('moved it aside')), damaged.lines.join(''));

  await rm(path.join(mfDir, 'manifest.json'));
  const rebuilt = await startOnce(root);
  assert.equal(rebuilt.version, 1);
  assert.equal(rebuilt.next, 3);
  assert.ok(rebuilt.lines.some((l) => l.includes('rebuilt manifest.json from 2 verified version files')), rebuilt.lines.join(''));

  // Every version damaged and the manifest gone: refuse, every time, and touch nothing.
  await rm(path.join(mfDir, 'manifest.json'));
  for (const v of [0, 1]) await flipLastByte(path.join(mfDir, `versions/v00000${v}.flkw`));
  const before = (await readdir(path.join(mfDir, 'versions'))).sort();
  for (let i = 0; i < 2; i++) {
    await assert.rejects(startCoordinator(config(root), capture().log), (e: unknown) => e instanceof FlockError && e.code === 'store-damaged' && /move .*mf aside/.test((e as Error).message));
  }
  assert.deepEqual((await readdir(path.join(mfDir, 'versions'))).sort(), before);

  // Only files moved aside remain (an operator cleared out the live ones): start again, past their numbers.
  for (const name of before) {
    if (/^v\d+\.(flkw|sha256)$/.test(name)) await rm(path.join(mfDir, 'versions', name));
  }
  await writeFile(path.join(mfDir, 'versions/v000007.flkw.damaged-2020-01-01T00-00-00-000Z'), 'x');
  const fresh = await startOnce(root);
  assert.equal(fresh.version, 8, 'initial weights take the next free number, never a used one');
  assert.ok(fresh.lines.some((l) => l.includes('initialised version 8')));
});
