import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlockError } from '../../shared/errors.ts';
import { loadMovieLens } from './load-movielens.ts';

// MovieLens sits beside the repo (its licence forbids copying it in): <repo>/../shared/data/ml-100k.
const ML100K = fileURLToPath(new URL('../../../shared/data/ml-100k', import.meta.url));

test(
  'loads MovieLens 100K',
  { skip: existsSync(ML100K) ? false : `MovieLens 100K not found at ${ML100K}` },
  async () => {
    const ds = await loadMovieLens(ML100K);
    assert.equal(ds.name, 'ml-100k');
    assert.equal(ds.numUsers, 943);
    assert.equal(ds.numItems, 1682);
    assert.equal(ds.interactions.length, 100_000);
    assert.equal(ds.titles[0], 'Toy Story (1995)'); // raw id "1" is dense id 0
  },
);

test('detects the 1M layout from a small fixture', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'flock-ml-'));
  try {
    await writeFile(path.join(dir, 'ratings.dat'), '1::10::5::100\n2::3::4::200\n');
    await writeFile(path.join(dir, 'movies.dat'), Buffer.from('3::Caf\xe9 (1999)::Drama\n10::Ten (2000)::Drama\n', 'latin1'));
    const ds = await loadMovieLens(dir);
    assert.equal(ds.name, 'ml-1m');
    assert.deepEqual(ds.titles, ['Café (1999)', 'Ten (2000)']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an empty folder is not-found, naming the files it looked for', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'flock-ml-'));
  try {
    await assert.rejects(loadMovieLens(dir), (e: unknown) => {
      assert.ok(e instanceof FlockError);
      assert.equal(e.code, 'not-found');
      assert.match(e.message, /u\.data.*u\.item.*ratings\.dat.*movies\.dat/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
