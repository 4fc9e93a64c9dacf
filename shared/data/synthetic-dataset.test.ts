import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../random/seeded-random.ts';
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

/**
 * Guards the generator's cost without a clock (a wall-clock bound fails on a loaded
 * machine): at 20,000 × 1,000 it makes exactly one random draw per (user, item) pair
 * (the Gumbel key) plus O(1) per latent coordinate, interaction and item, so its work
 * is linear in users × items. Rejection sampling of distinct items, a per-pick scan
 * with fresh draws, or any other superlinear use of randomness breaks the bound.
 */
test('20,000 users x 1,000 items: one random draw per (user, item) plus O(1) per interaction', () => {
  const users = 20_000;
  const items = 1000;
  const dim = 8;
  const next = SeededRandom.prototype.next;
  let draws = 0;
  SeededRandom.prototype.next = function (this: SeededRandom): number {
    draws++;
    return next.call(this);
  };
  let ds: ReturnType<typeof generateSyntheticDataset>;
  try {
    ds = generateSyntheticDataset({ users, items, dim, seed: 11 });
  } finally {
    SeededRandom.prototype.next = next;
  }
  assert.equal(ds.numUsers, users);
  assert.equal(ds.numItems, items);
  const n = ds.interactions.length;
  assert.ok(n >= 5 * users && n <= 40 * users, `${n} interactions`);
  // Gumbel keys: users·items. Normals (Box–Muller, two per draw pair): (users + items)·dim + users.
  // Shuffles: the ring, the popularity ranks and each person's picks. Clock: one per person and per interaction. Titles: 3 per item.
  const linear = users * items + (users + items) * dim + users + 2 * items + n + users + n + 3 * items;
  assert.ok(draws >= users * items, `${draws} draws: fewer than one Gumbel key per (user, item)`);
  assert.ok(draws <= linear + 1000, `${draws} random draws, linear bound ${linear}: generation is no longer linear in users × items`);
});

/**
 * HR@10 (full ranking, seen items excluded) of predicting each person's last item from
 * their second-to-last with item-to-item transition counts learnt from everyone's
 * earlier transitions; and of plain popularity. Model-free evidence of sequential signal.
 */
function nextItemHitRates(ds: ReturnType<typeof generateSyntheticDataset>): { transitions: number; popularity: number } {
  const seqs = Array.from({ length: ds.numUsers }, () => [] as number[]);
  for (const it of [...ds.interactions].sort((a, b) => a.timestamp - b.timestamp)) seqs[it.user].push(it.item);
  const counts = new Map<number, Map<number, number>>();
  const pop = new Array<number>(ds.numItems).fill(0);
  for (const seq of seqs) {
    for (let t = 0; t < seq.length - 1; t++) {
      pop[seq[t]]++;
      if (t + 1 < seq.length - 1) {
        const row = counts.get(seq[t]) ?? new Map<number, number>();
        counts.set(seq[t], row);
        row.set(seq[t + 1], (row.get(seq[t + 1]) ?? 0) + 1);
      }
    }
  }
  let hitsT = 0;
  let hitsP = 0;
  for (const seq of seqs) {
    const target = seq[seq.length - 1];
    const seen = new Set(seq.slice(0, -1));
    const rank = (score: (i: number) => number) => {
      let better = 0;
      for (let i = 0; i < ds.numItems; i++) if (!seen.has(i) && i !== target && score(i) >= score(target)) better++;
      return better < 10 ? 1 : 0;
    };
    const row = counts.get(seq[seq.length - 2]) ?? new Map<number, number>();
    hitsT += rank((i) => (row.get(i) ?? 0) + 1e-6 * pop[i]);
    hitsP += rank((i) => pop[i]);
  }
  return { transitions: hitsT / ds.numUsers, popularity: hitsP / ds.numUsers };
}

test("'walk' order carries a next-item signal that 'shuffled' does not; both pick the same items", () => {
  const walk = generateSyntheticDataset(DEFAULT_CATALOG);
  const shuffled = generateSyntheticDataset({ ...DEFAULT_CATALOG, order: 'shuffled' });
  const key = (i: { user: number; item: number }) => `${i.user}:${i.item}`;
  assert.deepEqual(walk.interactions.map(key).sort(), shuffled.interactions.map(key).sort());
  const w = nextItemHitRates(walk);
  const s = nextItemHitRates(shuffled);
  assert.ok(w.transitions > 2 * w.popularity, `walk: transitions HR@10 ${w.transitions} vs popularity ${w.popularity}`);
  assert.ok(s.transitions < 1.2 * s.popularity, `shuffled: transitions HR@10 ${s.transitions} vs popularity ${s.popularity}`);
});
