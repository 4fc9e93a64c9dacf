import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CATALOG, generateSyntheticDataset } from './synthetic-dataset.ts';

test('same seed gives an identical data set, another seed a different one', () => {
  const a = generateSyntheticDataset({ users: 200, items: 100, seed: 3 });
  const b = generateSyntheticDataset({ users: 200, items: 100, seed: 3 });
  const c = generateSyntheticDataset({ users: 200, items: 100, seed: 4 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.interactions, c.interactions);
});

test('default catalogue: sizes, name, titles, at least 5 distinct items per user', () => {
  const ds = generateSyntheticDataset(DEFAULT_CATALOG);
  assert.equal(ds.name, 'synthetic-1000x400-s7');
  assert.equal(ds.numUsers, 1000);
  assert.equal(ds.numItems, 400);
  assert.equal(ds.titles.length, 400);
  assert.equal(new Set(ds.titles).size, 400, 'titles are unique');
  const perUser = Array.from({ length: ds.numUsers }, () => new Set<number>());
  for (const it of ds.interactions) {
    assert.ok(it.item >= 0 && it.item < ds.numItems);
    assert.ok(!perUser[it.user].has(it.item), 'no repeated (user, item)');
    perUser[it.user].add(it.item);
  }
  for (const items of perUser) assert.ok(items.size >= 5);
  const mean = ds.interactions.length / ds.numUsers;
  assert.ok(mean > 25 && mean < 35, `mean interactions per user ${mean}`);
});

test('timestamps strictly increase per user', () => {
  const ds = generateSyntheticDataset({ users: 100, items: 50, seed: 1 });
  const last = new Map<number, number>();
  for (const it of ds.interactions) {
    assert.ok(it.timestamp > (last.get(it.user) ?? -Infinity));
    last.set(it.user, it.timestamp);
  }
});

test('popularity is skewed: the top 10% of items hold more than 30% of interactions', () => {
  const ds = generateSyntheticDataset(DEFAULT_CATALOG);
  const counts = new Array<number>(ds.numItems).fill(0);
  for (const it of ds.interactions) counts[it.item]++;
  counts.sort((a, b) => b - a);
  const top = counts.slice(0, ds.numItems / 10).reduce((s, c) => s + c, 0);
  assert.ok(top / ds.interactions.length > 0.3, `top share ${top / ds.interactions.length}`);
});

test('20,000 users x 1,000 items is generated in under 3 s', () => {
  const start = performance.now();
  const ds = generateSyntheticDataset({ users: 20_000, items: 1000, seed: 11 });
  const ms = performance.now() - start;
  assert.equal(ds.numUsers, 20_000);
  assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms`);
});
