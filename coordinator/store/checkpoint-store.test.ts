import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FlockError } from '../../shared/errors.ts';
import type { WeightsFile } from '../../shared/update/tensor-codec.ts';
import { CheckpointStore } from './checkpoint-store.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'flock-ckpt-'));
  dirs.push(d);
  return join(d, 'data'); // not yet existing: open() must create it
}

const weights = (version: number): WeightsFile => ({
  version,
  modelKind: 'mf',
  round: version - 1,
  tensors: [{ name: 'w', shape: [3], data: Float32Array.from([version, version * 2, -version]) }],
});

test('save 3 versions, reopen, latest is 3; corrupt newest → falls back to 2; leftover .tmp ignored', async () => {
  const dir = await tempDir();
  const store = await CheckpointStore.open(dir);
  assert.equal(await store.latest(), undefined);
  for (const v of [1, 2, 3]) await store.save(weights(v));

  const warnings: string[] = [];
  const reopened = await CheckpointStore.open(dir, { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(await reopened.latest(), weights(3));
  assert.deepEqual(reopened.entries().map((e) => e.version), [1, 2, 3]);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.modelKind, 'mf');
  assert.equal(manifest.entries[2].file, 'versions/v000003.flkw');
  assert.match(manifest.entries[2].sha256, /^[0-9a-f]{64}$/);

  const raw = await reopened.readVersion(2);
  assert.ok(raw);
  assert.deepEqual(raw, new Uint8Array(await readFile(join(dir, 'versions/v000002.flkw'))));
  assert.equal(await reopened.readVersion(99), undefined);

  // Flip one payload byte of the newest file: same length, checksum mismatch.
  const f3 = join(dir, 'versions/v000003.flkw');
  const b = await readFile(f3);
  b[b.length - 1] ^= 0xff;
  await writeFile(f3, b);
  assert.deepEqual(await reopened.latest(), weights(2));
  assert.ok(warnings.some((w) => /version 3/.test(w)), warnings.join('\n'));
  assert.equal(await reopened.readVersion(3), undefined);

  // A crash mid-save of version 4 leaves a .tmp file the manifest never names.
  await writeFile(join(dir, 'versions/v000004.flkw.tmp'), 'partial');
  await writeFile(join(dir, 'manifest.json.tmp'), '{"partial');
  const third = await CheckpointStore.open(dir);
  assert.deepEqual(await third.latest(), weights(2));
  assert.ok(!(await readdir(join(dir, 'versions'))).some((n) => n.endsWith('.tmp')));
});

test('save rejects non-increasing versions and a different model kind', async () => {
  const store = await CheckpointStore.open(await tempDir());
  await store.save(weights(5));
  await assert.rejects(store.save(weights(5)), (e: unknown) => e instanceof FlockError && e.code === 'wrong-version');
  await assert.rejects(store.save({ ...weights(6), modelKind: 'sasrec' }), FlockError);
  await store.save(weights(6));
  assert.equal((await store.latest())?.version, 6);
});

test('keep prunes old versions', async () => {
  const dir = await tempDir();
  const store = await CheckpointStore.open(dir, { keep: 2 });
  for (const v of [1, 2, 3]) await store.save(weights(v));
  assert.deepEqual(store.entries().map((e) => e.version), [2, 3]);
  assert.deepEqual((await readdir(join(dir, 'versions'))).sort(), ['v000002.flkw', 'v000002.sha256', 'v000003.flkw', 'v000003.sha256']);
});

test('rounds log: append, limit, torn last line ignored and repaired', async () => {
  const dir = await tempDir();
  const store = await CheckpointStore.open(dir);
  assert.deepEqual(await store.rounds(), []);
  await Promise.all([1, 2, 3].map((r) => store.appendRound({ round: r })));
  assert.deepEqual(await store.rounds(), [{ round: 1 }, { round: 2 }, { round: 3 }]);
  assert.deepEqual(await store.rounds(2), [{ round: 2 }, { round: 3 }]);
  await appendFile(join(dir, 'rounds.jsonl'), '{"round": 4, "tor');
  assert.deepEqual(await store.rounds(), [{ round: 1 }, { round: 2 }, { round: 3 }]);
  const reopened = await CheckpointStore.open(dir);
  await reopened.appendRound({ round: 4 });
  assert.deepEqual(await reopened.rounds(), [{ round: 1 }, { round: 2 }, { round: 3 }, { round: 4 }]);
});

test('server optimizer state: saved beside its version, verified on read, pruned with it', async () => {
  const dir = await tempDir();
  const warnings: string[] = [];
  const store = await CheckpointStore.open(dir, { keep: 2, onWarning: (m) => warnings.push(m) });
  const state = (v: number): WeightsFile => ({ ...weights(v), modelKind: 'mf/server-momentum', tensors: [{ name: 'm/w', shape: [3], data: Float32Array.from([v, 0, 1]) }] });
  await store.save(weights(1));
  for (const v of [2, 3]) await store.save(weights(v), state(v));
  assert.equal(await store.readServerState(1), undefined, 'version 1 was saved without state');
  const reopened = await CheckpointStore.open(dir, { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(await reopened.readServerState(3), state(3));
  await store.save(weights(4), state(4)); // keep 2: versions 3 and 4 stay, 2 and its state go
  assert.deepEqual((await readdir(join(dir, 'versions'))).sort(), ['v000003.flkw', 'v000003.server.flkw', 'v000003.sha256', 'v000004.flkw', 'v000004.server.flkw', 'v000004.sha256']);
  // A damaged state file is not trusted: no state, a warning, the weights still load.
  const bytes = await readFile(join(dir, 'versions', 'v000004.server.flkw'));
  bytes[bytes.length - 1] ^= 0xff;
  await writeFile(join(dir, 'versions', 'v000004.server.flkw'), bytes);
  const again = await CheckpointStore.open(dir, { onWarning: (m) => warnings.push(m) });
  assert.equal(await again.readServerState(4), undefined);
  assert.ok(warnings.some((w) => w.includes('v000004.server.flkw does not match its recorded sha256')), warnings.join('\n'));
  assert.deepEqual(await again.latest(), weights(4));
  // Moved aside, never deleted; the manifest no longer names it.
  assert.ok((await readdir(join(dir, 'versions'))).some((n) => n.startsWith('v000004.server.flkw.damaged-')));
  assert.equal(again.entries().at(-1)?.serverState, undefined);
});
