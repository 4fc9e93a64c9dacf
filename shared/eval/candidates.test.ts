import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leaveOneOutSplit } from '../data/leave-one-out.ts';
import { seedFromSplitHash, splitHash } from '../data/split-hash.ts';
import { generateSyntheticDataset } from '../data/synthetic-dataset.ts';
import { FlockError } from '../errors.ts';
import { candidatesOf, checkCandidates, EVALUATION_NEGATIVES, knownItems, packLists, sampleCandidates } from './candidates.ts';

// Few items, so 100 negatives cover most of a person's unseen items: a list that could
// contain the other held-out item would almost surely do so.
const ds = generateSyntheticDataset({ users: 300, items: 160, seed: 21, meanInteractionsPerUser: 20 });
const split = leaveOneOutSplit(ds);

test('every list: 100 distinct items the person never interacted with (validation lists never hold the test item)', () => {
  const c = sampleCandidates(split, ds.numItems);
  let users = 0;
  for (let u = 0; u < split.train.length; u++) {
    // Written out here, not knownItems: train, the validation item and the test item.
    const known = new Set([...split.train[u], split.validation[u], split.test[u]].filter((i) => i >= 0));
    assert.deepEqual(new Set(knownItems(split, u)), known);
    for (const which of ['test', 'validation'] as const) {
      const list = candidatesOf(c[which], u);
      const held = (which === 'test' ? split.test : split.validation)[u];
      if (held < 0) {
        assert.equal(list.length, 0);
        continue;
      }
      assert.equal(list.length, Math.min(EVALUATION_NEGATIVES, ds.numItems - known.size));
      assert.equal(new Set(list).size, list.length);
      for (const i of list) assert.ok(!known.has(i), `user ${u}'s ${which} list holds item ${i}, which the user interacted with`);
    }
    users++;
  }
  assert.ok(users > 250);
  checkCandidates(c, split, ds.numItems);
});

test('the lists are a property of the data set: same split → same lists, seed derived from the split hash', () => {
  const a = sampleCandidates(split, ds.numItems);
  const b = sampleCandidates(leaveOneOutSplit({ ...ds, interactions: [...ds.interactions].reverse() }), ds.numItems);
  assert.deepEqual(b, a);
  assert.equal(a.splitHash, splitHash(split, ds.numItems));
  assert.deepEqual(a.origin, { kind: 'sampled', seed: seedFromSplitHash(a.splitHash), negatives: EVALUATION_NEGATIVES });
  const other = generateSyntheticDataset({ users: 300, items: 160, seed: 22, meanInteractionsPerUser: 20 });
  const c = sampleCandidates(leaveOneOutSplit(other), other.numItems);
  assert.notEqual(c.splitHash, a.splitHash);
  assert.notEqual(c.origin.kind === 'sampled' && c.origin.seed, a.origin.kind === 'sampled' && a.origin.seed);
});

test('splitHash changes with any held-out item, train item or train order', () => {
  const h = splitHash(split, ds.numItems);
  const u = split.test.findIndex((t) => t >= 0);
  const with_ = (f: (s: { train: Int32Array[]; validation: Int32Array; test: Int32Array }) => void) => {
    const s = { train: split.train.map((t) => t.slice()), validation: split.validation.slice(), test: split.test.slice() };
    f(s);
    return splitHash(s, ds.numItems);
  };
  assert.equal(with_(() => {}), h);
  assert.notEqual(with_((s) => (s.test[u] = (s.test[u] + 1) % ds.numItems)), h);
  assert.notEqual(with_((s) => (s.validation[u] = (s.validation[u] + 1) % ds.numItems)), h);
  assert.notEqual(with_((s) => s.train[u].reverse()), h);
  assert.notEqual(splitHash(split, ds.numItems + 1), h);
});

test('checkCandidates refuses a list holding a known item, a repeat, an out-of-range item or another split', () => {
  const c = sampleCandidates(split, ds.numItems);
  const u = split.test.findIndex((t) => t >= 0);
  const tamper = (which: 'test' | 'validation', item: number) => {
    const lists = Array.from({ length: split.train.length }, (_, v) => Array.from(candidatesOf(c[which], v)));
    lists[u][0] = item;
    return { ...c, [which]: packLists(lists) };
  };
  const bad = (e: unknown) => e instanceof FlockError && e.code === 'bad-data';
  assert.throws(() => checkCandidates(tamper('validation', split.test[u]), split, ds.numItems), bad, 'the test item as a validation negative');
  assert.throws(() => checkCandidates(tamper('test', split.validation[u]), split, ds.numItems), bad, 'the validation item as a test negative');
  assert.throws(() => checkCandidates(tamper('test', candidatesOf(c.test, u)[1]), split, ds.numItems), bad, 'a repeat');
  assert.throws(() => checkCandidates(tamper('test', ds.numItems), split, ds.numItems), bad, 'out of range');
  assert.throws(() => checkCandidates({ ...c, splitHash: '0'.repeat(16) }, split, ds.numItems), bad, 'another split');
});
