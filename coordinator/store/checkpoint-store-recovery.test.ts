import assert from 'node:assert/strict';
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { FlockError } from '../../shared/errors.ts';
import { encodeWeights } from '../../shared/update/tensor-codec.ts';
import { CheckpointStore } from './checkpoint-store.ts';
import { writeDurable } from './durable-file.ts';
import { assertSound, dataDirsRemovedAfterTests, flipLastByte, listing, serverState, snapshot, weights } from './store-test-fixtures.ts';
import { sha256 } from './version-files.ts';

const dataDir = dataDirsRemovedAfterTests();
const isCode = (code: string) => (e: unknown) => e instanceof FlockError && e.code === code;
const collect = () => {
  const warnings: string[] = [];
  return { warnings, onWarning: (m: string) => warnings.push(m) };
};
const manifestVersions = async (dir: string): Promise<number[]> =>
  (JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { entries: { version: number }[] }).entries.map((e) => e.version);

test('flipped bytes in the newest version: moved aside, resumes at the previous one, saving nextVersion() succeeds (no crash loop)', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  for (const v of [1, 2, 3]) await store.save(weights(v), serverState(v));
  const damagedBytes = await readFile(join(dir, 'versions/v000003.flkw'));
  damagedBytes[damagedBytes.length - 1] ^= 0xff;
  await writeFile(join(dir, 'versions/v000003.flkw'), damagedBytes);

  const w = collect();
  const reopened = await CheckpointStore.open(dir, w);
  assert.deepEqual(await reopened.latest(), weights(2));
  assert.deepEqual(await reopened.readServerState(2), serverState(2));
  assert.deepEqual(await manifestVersions(dir), [1, 2], 'the manifest is rewritten without version 3');
  const files = await listing(dir);
  const aside = files.find((f) => /^versions\/v000003\.flkw\.damaged-/.test(f));
  assert.ok(aside, files.join('\n'));
  assert.deepEqual(await readFile(join(dir, aside)), damagedBytes, 'moved aside, bytes kept, never deleted');
  assert.ok(files.some((f) => /^versions\/v000003\.server\.flkw\.damaged-/.test(f)), 'its server state goes with it');
  assert.ok(w.warnings.some((m) => m.includes('version 3') && m.includes('does not match its recorded sha256')), w.warnings.join('\n'));
  await assertSound(dir, reopened);

  // The old engine's "current + 1" is refused; nextVersion() is not, and it sticks.
  assert.equal(reopened.nextVersion(), 4);
  await assert.rejects(reopened.save(weights(3)), isCode('wrong-version'));
  await reopened.save(weights(reopened.nextVersion()), serverState(4));
  const third = await CheckpointStore.open(dir);
  assert.deepEqual(await third.latest(), weights(4));
  assert.deepEqual(third.entries().map((e) => e.version), [1, 2, 4]);
  await assertSound(dir, third);
});

test('newest versions that are truncated, hold another version number or are missing are all moved aside', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  for (const v of [1, 2, 3, 4, 5]) await store.save(weights(v));
  // v5: the right checksum in the manifest, but the bytes of version 1 (a misplaced copy).
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  const v1 = await readFile(join(dir, 'versions/v000001.flkw'));
  await writeFile(join(dir, 'versions/v000005.flkw'), v1);
  manifest.entries[4].sha256 = sha256(v1);
  manifest.entries[4].bytes = v1.length;
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  // v4: deleted. v3: cut short.
  await rm(join(dir, 'versions/v000004.flkw'));
  const v3 = await readFile(join(dir, 'versions/v000003.flkw'));
  await writeFile(join(dir, 'versions/v000003.flkw'), v3.subarray(0, 20));

  const w = collect();
  const reopened = await CheckpointStore.open(dir, w);
  assert.deepEqual(await reopened.latest(), weights(2));
  assert.deepEqual(reopened.entries().map((e) => e.version), [1, 2]);
  assert.equal(reopened.nextVersion(), 6);
  assert.ok(w.warnings.some((m) => m.includes('holds version 1, not 5')), w.warnings.join('\n'));
  assert.ok(w.warnings.some((m) => m.includes('v000004.flkw is missing')), w.warnings.join('\n'));
  assert.ok(w.warnings.some((m) => m.includes('v000003.flkw has 20 bytes')), w.warnings.join('\n'));
  const files = await listing(dir);
  for (const v of [3, 5]) assert.ok(files.some((f) => f.startsWith(`versions/v00000${v}.flkw.damaged-`)), files.join('\n'));
  await assertSound(dir, reopened);
});

test('deleted manifest.json: rebuilt from the verified files, resumes at the newest, a new save overwrites nothing', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  await store.save(weights(0));
  for (const v of [1, 2, 3]) await store.save(weights(v), serverState(v));
  await store.appendRound({ round: 3 });
  const before = await snapshot(dir);
  await rm(join(dir, 'manifest.json'));

  const w = collect();
  const reopened = await CheckpointStore.open(dir, w);
  assert.ok(w.warnings.some((m) => m.includes('rebuilt manifest.json from 4 verified version files')), w.warnings.join('\n'));
  assert.deepEqual(await reopened.latest(), weights(3));
  assert.deepEqual(reopened.entries().map((e) => e.version), [0, 1, 2, 3]);
  assert.deepEqual(await reopened.readServerState(3), serverState(3));
  assert.deepEqual(await manifestVersions(dir), [0, 1, 2, 3]);
  assert.equal(reopened.nextVersion(), 4);
  await assertSound(dir, reopened);

  await assert.rejects(reopened.save(weights(1)), isCode('wrong-version'));
  await reopened.save(weights(reopened.nextVersion()));
  const after = await snapshot(dir);
  for (const [rel, bytes] of before) if (rel !== 'manifest.json') assert.equal(after.get(rel), bytes, `${rel} must be unchanged`);
  assert.deepEqual((await CheckpointStore.open(dir)).entries().map((e) => e.version), [0, 1, 2, 3, 4]);
});

test('rebuild keeps only what verifies: bad bytes per .sha256, wrong version inside, another model, damaged server state', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  for (const v of [1, 2, 3, 4]) await store.save(weights(v), serverState(v));
  await rm(join(dir, 'manifest.json'));
  await flipLastByte(join(dir, 'versions/v000002.flkw')); // decodes fine: only the .sha256 file catches it
  await flipLastByte(join(dir, 'versions/v000004.server.flkw'));
  await writeFile(join(dir, 'versions/v000006.flkw'), encodeWeights(weights(1))); // no .sha256, holds version 1
  await writeFile(join(dir, 'versions/v000000.flkw'), encodeWeights(weights(0, 3, 'sasrec')));

  const w = collect();
  const reopened = await CheckpointStore.open(dir, w);
  assert.deepEqual(reopened.entries().map((e) => e.version), [1, 3, 4]);
  assert.deepEqual(await reopened.latest(), weights(4));
  assert.equal(reopened.entries().at(-1)?.serverState, undefined, 'a damaged state is not listed');
  assert.deepEqual(await reopened.readServerState(3), serverState(3));
  assert.equal(reopened.nextVersion(), 7);
  const files = await listing(dir);
  for (const prefix of ['v000002.flkw.damaged-', 'v000002.server.flkw.damaged-', 'v000002.sha256.damaged-', 'v000004.server.flkw.damaged-', 'v000006.flkw.damaged-', 'v000000.flkw.damaged-']) {
    assert.ok(files.some((f) => f.startsWith(`versions/${prefix}`)), `${prefix}* expected in\n${files.join('\n')}`);
  }
  assert.ok(w.warnings.some((m) => m.includes("holds model 'sasrec', not 'mf'")), w.warnings.join('\n'));
  assert.ok(w.warnings.some((m) => m.includes('holds version 1, not 6')), w.warnings.join('\n'));
  await assertSound(dir, reopened);
});

test('rebuild from files without .sha256 (an older data dir): verified by decoding, with a warning that says so', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  for (const v of [1, 2]) await store.save(weights(v));
  for (const v of [1, 2]) await rm(join(dir, `versions/v00000${v}.sha256`));
  await rm(join(dir, 'manifest.json'));
  const w = collect();
  const reopened = await CheckpointStore.open(dir, w);
  assert.deepEqual(await reopened.latest(), weights(2));
  assert.ok(w.warnings.some((m) => m.includes('versions 2, 1 have no .sha256 file') && m.includes('decoding only')), w.warnings.join('\n'));
});

test('a manifest.json that is not JSON is moved aside and rebuilt from the files', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  for (const v of [1, 2]) await store.save(weights(v));
  await writeFile(join(dir, 'manifest.json'), '{"formatVersion": 1, "modelKind": "mf", "entr');
  const reopened = await CheckpointStore.open(dir);
  assert.deepEqual(await reopened.latest(), weights(2));
  assert.ok((await listing(dir)).some((f) => f.startsWith('manifest.json.damaged-')));
  await assertSound(dir, reopened);
});

test('nothing verifiable left: open refuses with store-damaged, says what to do, and changes nothing', async () => {
  // (a) manifest deleted, every version file damaged.
  const a = await dataDir();
  const storeA = await CheckpointStore.open(a);
  for (const v of [1, 2]) await storeA.save(weights(v));
  await rm(join(a, 'manifest.json'));
  for (const v of [1, 2]) await flipLastByte(join(a, `versions/v00000${v}.flkw`));
  await writeFile(join(a, 'versions/v000002.flkw.tmp'), 'partial');
  const beforeA = await snapshot(a);
  for (let i = 0; i < 2; i++) {
    await assert.rejects(CheckpointStore.open(a), (e: unknown) => {
      assert.ok(isCode('store-damaged')(e));
      assert.match((e as Error).message, /none of the 2 version files verifies/);
      assert.match((e as Error).message, /Nothing was changed\. Restore manifest\.json .* or move .* aside/);
      return true;
    });
    assert.deepEqual(await snapshot(a), beforeA, 'a refused open changes nothing, so every start refuses');
  }
  // (b) manifest present, every listed file damaged.
  const b = await dataDir();
  const storeB = await CheckpointStore.open(b);
  for (const v of [1, 2]) await storeB.save(weights(v));
  for (const v of [1, 2]) await flipLastByte(join(b, `versions/v00000${v}.flkw`));
  const beforeB = await snapshot(b);
  await assert.rejects(CheckpointStore.open(b), (e: unknown) => isCode('store-damaged')(e) && /no version the manifest lists verifies/.test((e as Error).message));
  assert.deepEqual(await snapshot(b), beforeB);
});

test('files of a save cut off before its manifest write are moved aside, and their number is never reused', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  for (const v of [1, 2]) await store.save(weights(v));
  await writeFile(join(dir, 'versions/v000003.flkw'), encodeWeights(weights(3)));
  await writeFile(join(dir, 'versions/v000003.server.flkw'), encodeWeights(serverState(3)));
  const w = collect();
  const reopened = await CheckpointStore.open(dir, w);
  assert.deepEqual(await reopened.latest(), weights(2));
  assert.equal(reopened.nextVersion(), 4);
  const files = await listing(dir);
  assert.ok(files.some((f) => f.startsWith('versions/v000003.flkw.unlisted-')), files.join('\n'));
  assert.ok(files.some((f) => f.startsWith('versions/v000003.server.flkw.unlisted-')), files.join('\n'));
  assert.ok(w.warnings.some((m) => m.includes('not listed in manifest.json')), w.warnings.join('\n'));
  await assertSound(dir, reopened);
});

test('nextVersion() is one past every number seen: manifest, live files, files moved aside, tmp leftovers', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  assert.equal(store.nextVersion(), 0, 'an empty store starts at version 0');
  await store.save(weights(0));
  assert.equal(store.nextVersion(), 1);
  await store.save(weights(4)); // any version ≥ nextVersion() is accepted
  assert.equal(store.nextVersion(), 5);
  await writeFile(join(dir, 'versions/v000009.flkw.damaged-2020-01-01T00-00-00-000Z'), 'x');
  assert.equal((await CheckpointStore.open(dir)).nextVersion(), 10);
  await writeFile(join(dir, 'versions/v000012.flkw.tmp'), 'x');
  const reopened = await CheckpointStore.open(dir);
  assert.equal(reopened.nextVersion(), 13);
  assert.ok(!(await readdir(join(dir, 'versions'))).includes('v000012.flkw.tmp'), 'tmp leftovers are removed');
  // A listed version whose files are gone altogether still holds its number.
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  m.entries.push({ ...m.entries[1], version: 20, file: 'versions/v000020.flkw' });
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
  const third = await CheckpointStore.open(dir);
  assert.equal(third.nextVersion(), 21);
  assert.deepEqual(third.entries().map((e) => e.version), [0, 4]);
  await assertSound(dir, third);
});

test('a save whose target file exists is refused with wrong-version and changes nothing', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  await store.save(weights(1));
  // Another writer puts version 5 in place after this store opened.
  await copyFile(join(dir, 'versions/v000001.flkw'), join(dir, 'versions/v000005.flkw'));
  const before = await snapshot(dir);
  await assert.rejects(store.save(weights(5)), (e: unknown) => isCode('wrong-version')(e) && /already exists; refusing to overwrite/.test((e as Error).message));
  assert.deepEqual(await snapshot(dir), before);
  assert.equal(store.nextVersion(), 2, 'a refused save spends no number');
  await store.save(weights(6));
  assert.deepEqual(store.entries().map((e) => e.version), [1, 6]);
});

test('writeDurable exclusive never replaces an existing file, even when the pre-check is skipped', async () => {
  const dir = await dataDir();
  await CheckpointStore.open(dir);
  await writeFile(join(dir, 'versions/v000001.flkw'), 'first');
  await assert.rejects(writeDurable(dir, 'versions/v000001.flkw', 'second', 'exclusive'), isCode('wrong-version'));
  assert.equal(await readFile(join(dir, 'versions/v000001.flkw'), 'utf8'), 'first');
  assert.deepEqual(await readdir(join(dir, 'versions')), ['v000001.flkw'], 'no tmp left behind');
  await writeDurable(dir, 'manifest.json', 'a', 'replace');
  await writeDurable(dir, 'manifest.json', 'b', 'replace');
  assert.equal(await readFile(join(dir, 'manifest.json'), 'utf8'), 'b');
});
