import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leaveOneOutSplit } from '../data/leave-one-out.ts';
import { generateSyntheticDataset } from '../data/synthetic-dataset.ts';
import { FlockError } from '../errors.ts';
import { sampleCandidates } from './candidates.ts';
import { candidatesFileSplitHash, formatCandidatesFile, parseCandidatesFile } from './candidates-file.ts';

const ds = generateSyntheticDataset({ users: 80, items: 200, seed: 8 });
const split = leaveOneOutSplit(ds);
const c = sampleCandidates(split, ds.numItems);
const text = formatCandidatesFile(c, split, ds.name);
const bad = (re: RegExp) => (e: unknown) => e instanceof FlockError && e.code === 'bad-data' && re.test(e.message);

test('a candidates file reads back as the same lists, one row per line', () => {
  assert.deepEqual(parseCandidatesFile(text, split, ds.numItems), c);
  const doc = JSON.parse(text);
  assert.equal(doc.format, 'flock-candidates');
  assert.equal(doc.ids, 'dense');
  assert.equal(doc.splitHash, c.splitHash);
  assert.equal(candidatesFileSplitHash(text), c.splitHash);
  const u = split.test.findIndex((t) => t >= 0);
  assert.deepEqual(doc.test[0].slice(0, 2), [u, split.test[u]]);
  assert.equal(doc.test[0].length, 102);
  assert.ok(text.split('\n').length > 2 * 80, 'a line per row');
});

test('a file made for another split, or with other held-out items, is refused', () => {
  const other = generateSyntheticDataset({ users: 80, items: 200, seed: 9 });
  const os = leaveOneOutSplit(other);
  assert.throws(() => parseCandidatesFile(text, os, other.numItems), bad(/another split/));
  // Same hash claimed, but a row names another test item.
  const doc = JSON.parse(text);
  doc.test[0][1] = (doc.test[0][1] + 1) % ds.numItems;
  assert.throws(() => parseCandidatesFile(JSON.stringify(doc), split, ds.numItems), bad(/test item is/));
});

test('a damaged file is refused: a missing row, a known item as negative, not the format', () => {
  const missing = JSON.parse(text);
  missing.validation.pop();
  assert.throws(() => parseCandidatesFile(JSON.stringify(missing), split, ds.numItems), bad(/no validation row/));
  const known = JSON.parse(text);
  const [u] = known.validation[0];
  known.validation[0][2] = split.test[u];
  assert.throws(() => parseCandidatesFile(JSON.stringify(known), split, ds.numItems), bad(/interacted with/));
  assert.throws(() => parseCandidatesFile('{"format":"x"}', split, ds.numItems), bad(/not a flock-candidates file/));
  assert.throws(() => parseCandidatesFile('(0,1)\t2', split, ds.numItems), bad(/not JSON/));
});
