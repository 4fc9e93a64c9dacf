import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dailyTimeline } from '../../shared/data/daily-timeline.ts';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { FlockError } from '../../shared/errors.ts';
import { addNewItems, drawNegatives, expectedNdcg, pooled, runReplay, type ReplayConfig } from './replay.ts';
import { replayCsv, replaySvg } from './replay-report.ts';

const cfg: ReplayConfig = {
  dim: 8, seed: 1, roundsPerDay: 1, localEpochs: 1, batchSize: 32, learningRate: 0.5, negatives: 4, l2: 1e-4,
  clipNorm: 1, serverLearningRate: 1, rowNormalize: true, centralEpochsPerDay: 1, frozenEpochs: 10,
};

test('drawNegatives: distinct items of the existing prefix outside the person\'s items, fixed by the seed, all of them when fewer exist', () => {
  const exclude = new Set([0, 3, 7]);
  const a = drawNegatives(50, exclude, 20, 9);
  assert.equal(new Set(a).size, 20);
  assert.ok(Array.from(a).every((i) => i >= 0 && i < 50 && !exclude.has(i)));
  assert.deepEqual(a, drawNegatives(50, exclude, 20, 9));
  assert.notDeepEqual(a, drawNegatives(50, exclude, 20, 10));
  assert.deepEqual(Array.from(drawNegatives(5, exclude, 20, 1)).sort(), [1, 2, 4]);
});

test('replay on a synthetic stream: the catalog grows, every arm scores the same test cases, trained models beat chance, the frozen arm starts at the half', () => {
  const dataset = generateSyntheticDataset({ users: 300, items: 120, seed: 5, meanInteractionsPerUser: 25 });
  const tl = dailyTimeline(dataset);
  const r = runReplay(dataset, cfg);
  assert.equal(r.days.length, tl.days.length);
  assert.deepEqual(r.days.map((d) => d.items), Array.from(tl.itemsBy));
  for (const d of r.days) {
    const ns = Object.values(d.arms).map((a) => a!.n + a!.coldN);
    assert.ok(ns.every((n) => n === ns[0]), `day ${d.day}: arms scored different case counts ${ns}`);
    assert.equal(d.arms.frozen !== undefined, d.day >= r.half && d.arms.federated !== undefined);
  }
  // Chance with ≤ 100 negatives is ≥ 10/101; the trained models must do much better.
  const central = pooled(r.days, 'centralized-daily', r.half);
  const frozen = pooled(r.days, 'frozen', r.half);
  assert.ok(central.n > 500, `${central.n} test cases`);
  assert.ok(central.hr10 > 0.3, `centralized daily HR@10 ${central.hr10}`);
  assert.ok(frozen.hr10 > 0.3, `frozen HR@10 ${frozen.hr10}`);
  assert.equal(replayCsv(r).trim().split('\n').length, r.days.length + 1);
  assert.match(replaySvg(r, 't'), /<svg[\s\S]*federated[\s\S]*<\/svg>/);
});

test('bad replay settings are refused with a typed error', () => {
  const dataset = generateSyntheticDataset({ users: 20, items: 10, seed: 1 });
  assert.throws(() => runReplay(dataset, { ...cfg, dim: 0 }), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
  assert.throws(() => runReplay(dataset, { ...cfg, clipNorm: -1 }), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
});

test('prequential: a day is scored with the models of the previous day, never with its own interactions', () => {
  // Day 0: people 1..20 take item 0, person 0 takes item 1, person 21 takes items 2..12 (so they exist).
  // Day 1: everybody 0..20 takes item 2. Before day 1 item 2 has one person (ties with items 3..12 → rank ≥ 10,
  // a miss for every case); had day 1 been counted first, item 2 (21 people) would rank first (a hit).
  const day = (d: number) => 1_000_000 + d * 86_400;
  const interactions = [
    ...Array.from({ length: 20 }, (_, k) => ({ user: k + 1, item: 0, rating: 1, timestamp: day(0) })),
    { user: 0, item: 1, rating: 1, timestamp: day(0) },
    ...Array.from({ length: 11 }, (_, k) => ({ user: 21, item: k + 2, rating: 1, timestamp: day(0) })),
    ...Array.from({ length: 21 }, (_, u) => ({ user: u, item: 2, rating: 1, timestamp: day(1) + 60 })),
  ];
  const r = runReplay({ name: 'leak', numUsers: 22, numItems: 13, interactions, titles: [] }, { ...cfg, frozenEpochs: 1 });
  const pop = r.days[1].arms.popularity!;
  assert.equal(pop.n, 21);
  // Ties broken at random in expectation: persons 1..20 see item 2 tied with 11 negatives (P(hit) = 10/12),
  // person 0 with 10 and item 0 above it (9/11); counted first, item 2 would lead alone and score 21.
  assert.ok(Math.abs(pop.hr - (20 * 10 / 12 + 9 / 11)) < 1e-9, `popularity scored day 1 with day 1 counted: ${pop.hr}`);
});

test('expected NDCG@10 with random ties: the mean over the tied ranks, 0 beyond rank 10', () => {
  assert.equal(expectedNdcg(0, 0), 1);
  assert.ok(Math.abs(expectedNdcg(0, 1) - (1 + 1 / Math.log2(3)) / 2) < 1e-12);
  assert.ok(Math.abs(expectedNdcg(9, 3) - 1 / Math.log2(11) / 4) < 1e-12);
  assert.equal(expectedNdcg(10, 5), 0);
});

test('tower arms with no item features are the plain arms (same stream, seeds, batches; the tower kernel adds nothing)', () => {
  const base = generateSyntheticDataset({ users: 150, items: 80, seed: 3, meanInteractionsPerUser: 20 });
  const dataset = { ...base, itemFeatures: base.itemFeatures!.map(() => []) };
  const r = runReplay(dataset, { ...cfg, frozenEpochs: 2, itemFeatures: { buckets: 16, centralized: true } });
  let cases = 0;
  for (const d of r.days) {
    for (const [plain, tower] of [['federated', 'federated-tower'], ['centralized-daily', 'centralized-daily-tower']] as const) {
      const a = d.arms[plain];
      const b = d.arms[tower];
      assert.equal(a === undefined, b === undefined);
      if (!a || !b) continue;
      assert.equal(b.n, a.n);
      assert.equal(b.coldN, a.coldN);
      assert.ok(Math.abs(a.hr - b.hr) < 1e-6 && Math.abs(a.ndcg - b.ndcg) < 1e-6 && Math.abs(a.coldHr - b.coldHr) < 1e-6, `day ${d.day} ${tower}: ${JSON.stringify([a, b])}`);
      cases += a.n + a.coldN;
    }
  }
  assert.ok(cases > 200, `${cases} cases`);
});

test('tower arms on the synthetic catalog (features from its latent genres): same cases as every arm, and new items ranked better than from their added row alone', () => {
  const dataset = generateSyntheticDataset({ users: 300, items: 120, seed: 5, meanInteractionsPerUser: 25 });
  const r = runReplay(dataset, { ...cfg, itemFeatures: { buckets: 64, centralized: false } });
  for (const d of r.days) {
    const ns = Object.values(d.arms).map((a) => a!.n + a!.coldN);
    assert.ok(ns.every((n) => n === ns[0]), `day ${d.day}: arms scored different case counts ${ns}`);
  }
  assert.equal(r.days.some((d) => d.arms['centralized-daily-tower']), false);
  assert.ok(r.towerNorm['federated-tower']! > 0.01, `feature embedding norm ${r.towerNorm['federated-tower']}`);
  const plain = pooled(r.days, 'federated');
  const tower = pooled(r.days, 'federated-tower');
  assert.ok(tower.firstDayN > 50, `${tower.firstDayN} first-day cases`);
  assert.ok(tower.firstDayHr10 > plain.firstDayHr10, `first-day HR@10 with the tower ${tower.firstDayHr10}, without ${plain.firstDayHr10}`);
});

test('a day\'s new items join a model with free row 0 and the mean free bias of the items before them', () => {
  const t = { items: Float32Array.from({ length: 5 * 2 }, (_, k) => k + 1), bias: Float32Array.from([1, 2, 6, 9, 9]) };
  addNewItems(t, 3, 5, 2);
  assert.deepEqual(Array.from(t.items), [1, 2, 3, 4, 5, 6, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(t.bias), [1, 2, 6, 3, 3]);
});

test('a replay with the tower on a data set without item features is refused', () => {
  const dataset = { ...generateSyntheticDataset({ users: 20, items: 10, seed: 1 }), itemFeatures: undefined };
  assert.throws(() => runReplay(dataset, { ...cfg, itemFeatures: { buckets: 8, centralized: false } }), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
  assert.throws(() => runReplay(dataset, { ...cfg, itemFeatures: { buckets: 0, centralized: false } }), (e: unknown) => e instanceof FlockError && e.code === 'bad-config');
});
