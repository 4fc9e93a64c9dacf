/**
 * The privacy record saved with each version under differential privacy: written in the
 * version's atomic save, checksummed in the manifest and the .sha256 file, read back
 * verified, kept through a manifest rebuild, never moved aside or dropped when damaged
 * (a DP coordinator must refuse instead), moved aside WITH a damaged version (whose
 * round stays spent), pruned with its version.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { FlockError } from '../../shared/errors.ts';
import { CheckpointStore } from './checkpoint-store.ts';
import type { PrivacyRecord } from './privacy-record.ts';
import { assertSound, dataDirsRemovedAfterTests, flipLastByte, weights } from './store-test-fixtures.ts';
import { parseChecksums, sha256 } from './version-files.ts';

const dataDir = dataDirsRemovedAfterTests();
const collect = () => {
  const warnings: string[] = [];
  return { warnings, onWarning: (m: string) => warnings.push(m) };
};

const record = (version: number, rounds = version): PrivacyRecord => ({
  format: 1,
  mechanism: 'dp-fedavg',
  modelKind: 'mf',
  version,
  round: version,
  ledger: { noiseMultiplier: 1.1, delta: 1e-5, epsilon: 0.1 * rounds, rounds, accountant: { orders: [2, 4, 8], rdp: [0.01 * rounds, 0.02 * rounds, 0.04 * rounds], steps: rounds } },
  clipNorm: 0.5 + version / 100,
  adaptiveClipping: true,
  plan: { noiseMultiplier: 1.1, delta: 1e-5, samplingRate: 0.1, population: 1000, expectedCohort: 100, rounds: 50, epsilonBudget: 5, conversion: 'balle2020' },
});

test('privacy record: saved with its version (sha256 in the manifest and the .sha256 file), read back verified; none for a version without one', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  await store.save(weights(0)); // initial weights, no record
  for (const v of [1, 2]) await store.save(weights(v), undefined, record(v));
  assert.deepEqual(await store.readPrivacy(0), { status: 'none' });
  assert.deepEqual(await store.readPrivacy(2), { status: 'ok', record: record(2) });
  const entry = store.entries().at(-1)!;
  assert.equal(entry.privacy?.file, 'versions/v000002.privacy.json');
  assert.equal(entry.privacy?.epsilon, 0.2);
  assert.equal(entry.privacy?.rounds, 2);
  const text = await readFile(join(dir, 'versions/v000002.privacy.json'), 'utf8');
  assert.equal(entry.privacy?.sha256, sha256(text));
  assert.equal(parseChecksums(await readFile(join(dir, 'versions/v000002.sha256'), 'utf8'))?.get('v000002.privacy.json'), sha256(text));
  // A record of another version is refused before anything is written.
  await assert.rejects(store.save(weights(3), undefined, record(4)), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
  const reopened = await CheckpointStore.open(dir);
  assert.deepEqual(await reopened.readPrivacy(2), { status: 'ok', record: record(2) });
  await assertSound(dir, reopened);
});

test('privacy record: a damaged one stays listed and in place (reported damaged, with a warning), the weights still load', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  for (const v of [1, 2]) await store.save(weights(v), undefined, record(v));
  await flipLastByte(join(dir, 'versions/v000002.privacy.json'));
  const w = collect();
  const reopened = await CheckpointStore.open(dir, w);
  assert.deepEqual(await reopened.latest(), weights(2));
  const read = await reopened.readPrivacy(2);
  assert.equal(read.status, 'damaged');
  assert.match(read.status === 'damaged' ? read.reason : '', /v000002\.privacy\.json does not match its recorded sha256/);
  assert.ok(w.warnings.some((m) => m.includes('version 2: its privacy record') && m.includes('refuses to start')), w.warnings.join('\n'));
  assert.ok((await readdir(join(dir, 'versions'))).includes('v000002.privacy.json'), 'not moved aside');

  // Deleted outright: still damaged (the manifest names it), never "trained without DP".
  await rm(join(dir, 'versions/v000002.privacy.json'));
  const again = await CheckpointStore.open(dir);
  assert.equal((await again.readPrivacy(2)).status, 'damaged');
});

test('privacy record: a manifest rebuilt from the files keeps it (verified against the .sha256 file); a damaged one stays damaged', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  for (const v of [1, 2, 3]) await store.save(weights(v), undefined, record(v));
  await rm(join(dir, 'manifest.json'));
  const rebuilt = await CheckpointStore.open(dir);
  assert.deepEqual(await rebuilt.readPrivacy(3), { status: 'ok', record: record(3) });
  assert.equal(rebuilt.entries().at(-1)?.privacy?.rounds, 3);
  await assertSound(dir, rebuilt);

  // Same length, flipped byte, manifest lost again: the .sha256 file still tells.
  await flipLastByte(join(dir, 'versions/v000003.privacy.json'));
  await rm(join(dir, 'manifest.json'));
  const w = collect();
  const again = await CheckpointStore.open(dir, w);
  assert.equal((await again.readPrivacy(3)).status, 'damaged');
  assert.deepEqual(await again.latest(), weights(3));
  assert.ok((await readdir(join(dir, 'versions'))).includes('v000003.privacy.json'));

  // Not a privacy record at all (and no checksum for it): damaged too.
  await writeFile(join(dir, 'versions/v000003.sha256'), (await readFile(join(dir, 'versions/v000003.sha256'), 'utf8')).split('\n').filter((l) => !l.includes('privacy')).join('\n'));
  await writeFile(join(dir, 'versions/v000003.privacy.json'), '{"format": 1}');
  await rm(join(dir, 'manifest.json'));
  assert.equal((await (await CheckpointStore.open(dir)).readPrivacy(3)).status, 'damaged');
});

test('privacy record: moved aside with its damaged version, and still readable there (its round was published)', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir);
  for (const v of [1, 2, 3]) await store.save(weights(v), undefined, record(v));
  await flipLastByte(join(dir, 'versions/v000003.flkw'));
  const reopened = await CheckpointStore.open(dir);
  assert.deepEqual(await reopened.latest(), weights(2));
  assert.ok((await readdir(join(dir, 'versions'))).some((n) => n.startsWith('v000003.privacy.json.damaged-')));
  assert.deepEqual(await reopened.damagedVersionsAfter(2), [{ version: 3, privacy: { status: 'ok', record: record(3) } }]);
  assert.deepEqual(await reopened.damagedVersionsAfter(3), []);
  // Once a later version is saved, the lost one is behind the resumed version: not reported.
  await reopened.save(weights(4), undefined, record(4, 4));
  assert.deepEqual(await (await CheckpointStore.open(dir)).damagedVersionsAfter(4), []);
});

test('privacy record: a save cut off before its manifest write leaves it unlisted (moved aside: never published); pruning removes it with its version', async () => {
  const dir = await dataDir();
  const store = await CheckpointStore.open(dir, {
    faults: (step, file) => {
      if (step === 'renamed' && file === 'versions/v000002.sha256') throw new Error('crash');
    },
  });
  await store.save(weights(1), undefined, record(1));
  await assert.rejects(store.save(weights(2), undefined, record(2)), /crash/);
  const reopened = await CheckpointStore.open(dir);
  assert.deepEqual(await reopened.latest(), weights(1));
  const names = await readdir(join(dir, 'versions'));
  assert.ok(names.some((n) => n.startsWith('v000002.privacy.json.unlisted-')), names.join('\n'));
  assert.deepEqual(await reopened.damagedVersionsAfter(1), [], 'unlisted ≠ damaged: it was never published');

  const pruning = await CheckpointStore.open(dir, { keep: 1 });
  await pruning.save(weights(3), undefined, record(3));
  assert.ok(!(await readdir(join(dir, 'versions'))).includes('v000001.privacy.json'));
  assert.ok((await readdir(join(dir, 'versions'))).includes('v000003.privacy.json'));
});
