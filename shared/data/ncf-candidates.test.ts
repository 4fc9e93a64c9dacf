import assert from 'node:assert/strict';
import { test } from 'node:test';
import { candidatesOf, sampleCandidates } from '../eval/candidates.ts';
import { FlockError } from '../errors.ts';
import type { Dataset } from './interactions.ts';
import { leaveOneOutSplit } from './leave-one-out.ts';
import { isNcfNegativeFile, ncfIdMaps, parseNcfCandidates } from './ncf-candidates.ts';
import { generateSyntheticDataset } from './synthetic-dataset.ts';

// Reversed file order, so "order of first appearance" differs from Flock's ids for users and items.
const gen = generateSyntheticDataset({ users: 120, items: 150, seed: 17 });
const ds: Dataset = { ...gen, interactions: [...gen.interactions].reverse() };
const split = leaveOneOutSplit(ds);
const ours = sampleCandidates(split, ds.numItems, 99);

/** The NCF file of `split` under the 'ncf' mapping: our lists, ids renumbered by first appearance. */
function ncfText(edit: (u: number, pair: [number, number], negs: number[]) => void = () => {}): string {
  const maps = ncfIdMaps(ds, 'ncf');
  const userToNcf = new Map<number, number>();
  maps.users.forEach((u, k) => u >= 0 && userToNcf.set(u, k));
  const itemToNcf = new Map<number, number>();
  maps.items.forEach((i, k) => i >= 0 && itemToNcf.set(i, k));
  const lines: string[] = [];
  for (let k = 0; k < ds.numUsers; k++) {
    const u = maps.users[k];
    if (split.test[u] < 0) continue;
    const pair: [number, number] = [k, itemToNcf.get(split.test[u])!];
    const negs = Array.from(candidatesOf(ours.test, u), (i) => itemToNcf.get(i)!);
    edit(u, pair, negs);
    lines.push(`(${pair[0]},${pair[1]})\t${negs.join('\t')}`);
  }
  return lines.join('\n') + '\n';
}
const bad = (re: RegExp) => (e: unknown) => e instanceof FlockError && e.code === 'bad-data' && re.test(e.message);

test('ncf ids are the order of first appearance in the file; dense ids are Flock\'s', () => {
  const maps = ncfIdMaps(ds, 'ncf');
  assert.equal(maps.users[0], ds.interactions[0].user);
  assert.equal(maps.items[0], ds.interactions[0].item);
  assert.notDeepEqual(Array.from(maps.items), Array.from({ length: ds.numItems }, (_, i) => i));
  assert.ok(maps.items.every((i) => i >= 0), 'every item appears in the file (NCF numbers only rated items)');
  assert.deepEqual(Array.from(ncfIdMaps(ds, 'dense').users), Array.from({ length: ds.numUsers }, (_, u) => u));
});

test('an NCF test.negative file maps to our users and items and gives the same test lists', () => {
  const text = ncfText();
  assert.ok(isNcfNegativeFile(text));
  const c = parseNcfCandidates(text, ds, split);
  assert.deepEqual(c.test, ours.test);
  assert.equal(c.splitHash, ours.splitHash);
  assert.deepEqual(c.validation, sampleCandidates(split, ds.numItems).validation, 'validation lists: the data set\'s own');
  assert.deepEqual(c.origin, { kind: 'ncf', ids: 'ncf', droppedKnown: 0, droppedDuplicates: 0, validationSeed: (ours.origin as { seed: number }).seed });
});

test('read with the wrong id mapping, the pairs do not match and the file is refused, naming the other mapping', () => {
  assert.throws(() => parseNcfCandidates(ncfText(), ds, split, { ids: 'dense' }), bad(/test pairs differ .* under the other mapping 0 would differ/));
});

test('a file whose test pairs differ from our split is refused', () => {
  let once = false;
  const text = ncfText((u, pair) => {
    if (once) return;
    once = true;
    const maps = ncfIdMaps(ds, 'ncf');
    pair[1] = maps.items.indexOf(split.validation[u]); // the validation item as the "test" item
  });
  assert.throws(() => parseNcfCandidates(text, ds, split), bad(/1 of \d+ \(user,item\) test pairs differ/));
  const lines = ncfText().trim().split('\n');
  assert.throws(() => parseNcfCandidates(lines.slice(1).join('\n'), ds, split), bad(/no line for 1 users/));
  assert.throws(() => parseNcfCandidates('(0,1)\tx\n', ds, split), bad(/line 1/));
});

test('listed negatives the person interacted with (the test item too) and repeats are dropped and counted', () => {
  let target = -1;
  let user = -1;
  const text = ncfText((u, pair, negs) => {
    if (user >= 0) return;
    user = u;
    target = pair[1];
    negs[0] = pair[1]; // the test item itself, as in NCF issue #81
    negs[1] = negs[2]; // a repeat
  });
  const c = parseNcfCandidates(text, ds, split);
  assert.equal(c.origin.kind === 'ncf' && c.origin.droppedKnown, 1);
  assert.equal(c.origin.kind === 'ncf' && c.origin.droppedDuplicates, 1);
  const list = candidatesOf(c.test, user);
  assert.equal(list.length, 97);
  assert.ok(!list.includes(ncfIdMaps(ds, 'ncf').items[target]));
});

test('a mismatch caused by a same-timestamp tie is reported as one', () => {
  // User 0 rates items 3 and 9 in the same (last) second: by item id, 9 is the test item.
  const rows = [[0, 1, 1], [0, 2, 2], [0, 5, 3], [0, 9, 4], [0, 3, 4], [1, 1, 1], [1, 2, 2], [1, 3, 3]];
  const tiny: Dataset = { name: 'tiny', numUsers: 2, numItems: 10, titles: [], interactions: rows.map(([user, item, timestamp]) => ({ user, item, rating: 1, timestamp })) };
  const s = leaveOneOutSplit(tiny);
  assert.equal(s.test[0], 9);
  // A file that took the file's line order instead: item 3 as the test item (dense ids).
  const text = '(0,3)\t0\t4\n(1,3)\t0\t4\n';
  assert.throws(() => parseNcfCandidates(text, tiny, s, { ids: 'dense' }), bad(/1 of 2 .* \(1 of them are same-timestamp ties/));
});
