import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { candidatesOf, sampleCandidates } from '../../shared/eval/candidates.ts';
import { FlockError } from '../../shared/errors.ts';
import { CANDIDATES_FILE, researchSplit, resolveCandidates } from './simulation-data.ts';

const ds = generateSyntheticDataset({ users: 70, items: 150, seed: 3 });
const split = researchSplit(ds);

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flock-candidates-'));
  try {
    await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('<out>/candidates.json is written once, reused, and replaced when it was made for another data set', () =>
  withDir(async (dir) => {
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const first = resolveCandidates(ds, split, { outDir: dir, log });
    assert.equal(first.info.how, 'written');
    assert.deepEqual(first.candidates, sampleCandidates(split, ds.numItems));
    const file = path.join(dir, CANDIDATES_FILE);
    const text = await readFile(file, 'utf8');
    const again = resolveCandidates(ds, split, { outDir: dir, log });
    assert.equal(again.info.how, 'reused');
    assert.deepEqual(again.candidates, first.candidates);
    assert.equal(await readFile(file, 'utf8'), text, 'not rewritten');
    // Another data set in the same folder: its own lists replace the file.
    const other = generateSyntheticDataset({ users: 70, items: 150, seed: 4 });
    const os2 = researchSplit(other);
    const replaced = resolveCandidates(other, os2, { outDir: dir, log });
    assert.equal(replaced.info.how, 'written');
    assert.notEqual(replaced.info.splitHash, first.info.splitHash);
    assert.match(lines.join('\n'), /made for another split/);
  }));

test('a damaged candidates.json of this split is refused, not silently replaced', () =>
  withDir(async (dir) => {
    resolveCandidates(ds, split, { outDir: dir });
    const file = path.join(dir, CANDIDATES_FILE);
    const doc = JSON.parse(await readFile(file, 'utf8'));
    const [u] = doc.test[0];
    doc.test[0][2] = split.validation[u];
    await writeFile(file, JSON.stringify(doc));
    assert.throws(() => resolveCandidates(ds, split, { outDir: dir }), (e: unknown) => e instanceof FlockError && e.code === 'bad-data');
  }));

test('--candidates reads Flock and NCF files; refuses another split; --candidate-ids only with an NCF file', () =>
  withDir(async (dir) => {
    const ours = resolveCandidates(ds, split, { outDir: dir });
    const file = path.join(dir, CANDIDATES_FILE);
    const read = resolveCandidates(ds, split, { file });
    assert.equal(read.info.how, 'read');
    assert.equal(read.info.format, 'flock');
    assert.deepEqual(read.candidates, ours.candidates);
    const other = generateSyntheticDataset({ users: 70, items: 150, seed: 5 });
    assert.throws(() => resolveCandidates(other, researchSplit(other), { file }), (e: unknown) => e instanceof FlockError && /another split/.test(e.message));
    assert.throws(() => resolveCandidates(ds, split, { file, ids: 'ncf' }), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
    // An NCF file with Flock's dense ids.
    const ncf = path.join(dir, 'x.test.negative');
    const lines: string[] = [];
    for (let u = 0; u < ds.numUsers; u++) if (split.test[u] >= 0) lines.push(`(${u},${split.test[u]})\t${[...candidatesOf(ours.candidates.test, u)].join('\t')}`);
    await writeFile(ncf, lines.join('\n'));
    const n = resolveCandidates(ds, split, { file: ncf, ids: 'dense' });
    assert.equal(n.info.format, 'ncf');
    assert.deepEqual(n.candidates.test, ours.candidates.test);
  }));

test('without a folder or file the lists are the data set\'s own, in memory', () => {
  const r = resolveCandidates(ds, split);
  assert.equal(r.info.how, 'sampled');
  assert.deepEqual(r.candidates, sampleCandidates(split, ds.numItems));
});
