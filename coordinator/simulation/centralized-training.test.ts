import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Dataset } from '../../shared/data/interactions.ts';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { popularityScores } from '../../shared/eval/popularity-baseline.ts';
import { evaluatePopularity, trainCentralized } from './centralized-training.ts';
import { reportCsv, reportSvg, type ResearchReport } from './research-report.ts';
import { runCentralizedExperiment } from './experiments.ts';
import { researchSplit } from './simulation-data.ts';

test('popularity scores count training interactions per item', () => {
  const train = [Int32Array.from([0, 2]), Int32Array.from([2]), Int32Array.from([2, 1])];
  assert.deepEqual(Array.from(popularityScores(train, 4)), [1, 1, 3, 0]);
});

test('popularity baseline: hand-computed HR@10 / NDCG@10 (ties count against the target)', () => {
  const interactions: Dataset['interactions'][number][] = [];
  const add = (user: number, items: number[]) => items.forEach((item, t) => interactions.push({ user, item, rating: 1, timestamp: t }));
  // history …, validation, test (last two by time)
  add(0, [1, 2, 3, 4, 0]);
  add(1, [0, 1, 2, 5, 3]);
  add(2, [0, 1, 2, 6, 29]);
  add(3, [0, 1, 3, 7, 2]);
  const ds: Dataset = { name: 'tiny', numUsers: 4, numItems: 30, interactions, titles: [] };
  const split = researchSplit(ds);
  assert.deepEqual(Array.from(split.test), [0, 3, 29, 2]);
  // Train popularity: item0 3, item1 4, item2 3, item3 2, all others 0.
  // user0: target 0 (3) vs items outside {1,2,3,4}: all 0 → rank 0 (hit, NDCG 1)
  // user1: target 3 (2) vs items outside {0,1,2,5}: all 0 → rank 0
  // user2: target 29 (0) vs the items user 2 never interacted with: item 3 (2) and items
  //        4, 5, 7..28 (0, ties pessimistic; item 6, the validation item, is no candidate) → rank 25: miss
  // user3: target 2 (3) vs items outside {0,1,3,7}: all 0 → rank 0
  // Fewer than 100 candidates, so the sampled protocol uses them all: same numbers.
  const p = evaluatePopularity(ds, split);
  assert.equal(p.users, 4);
  assert.equal(p.full.hr10, 0.75);
  assert.equal(p.full.ndcg10, 0.75);
  assert.equal(p.sampled.hr10, 0.75);
  assert.equal(p.sampled.ndcg10, 0.75);
});

test('centralized MF is deterministic and beats popularity on synthetic data', () => {
  const ds = generateSyntheticDataset({ users: 400, items: 150, seed: 11, meanInteractionsPerUser: 20 });
  const split = researchSplit(ds);
  const cfg = { dim: 16, seed: 2, epochs: 8, batchSize: 32, learningRate: 0.5, negatives: 4, l2: 1e-4, evalEvery: 4 };
  const a = trainCentralized(ds, split, cfg);
  const b = trainCentralized(ds, split, cfg);
  assert.deepEqual(a.evaluations, b.evaluations);
  assert.deepEqual(a.evaluations.map((e) => e.round), [0, 4, 8]);
  assert.ok(a.epochs[7].trainLoss < a.epochs[0].trainLoss);
  const pop = evaluatePopularity(ds, split);
  const last = a.evaluations[2];
  assert.ok(last.sampled.hr10 > pop.sampled.hr10, `MF ${last.sampled.hr10} vs popularity ${pop.sampled.hr10}`);
});

test('report files: CSV has a row per epoch plus round 0, the SVG names every series', () => {
  const ds = generateSyntheticDataset({ users: 100, items: 60, seed: 3 });
  const r: ResearchReport = runCentralizedExperiment({
    source: { kind: 'synthetic', users: 100, items: 60, seed: 3 },
    dataset: ds,
    cfg: { dim: 8, seed: 1, epochs: 3, batchSize: 16, learningRate: 0.5, negatives: 2, l2: 1e-4, evalEvery: 2 },
  });
  const lines = reportCsv(r).trim().split('\n');
  assert.equal(
    lines[0],
    'round,trainLoss,seconds,hr10_sampled,ndcg10_sampled,hr10_full,ndcg10_full,val_hr10_sampled,val_ndcg10_sampled,val_hr10_full,val_ndcg10_full',
  );
  assert.equal(lines.length, 1 + 1 + 3);
  assert.match(lines[2], /^1,[0-9.]+,[0-9.e-]+,,,,,,,,$/); // epoch 1 not evaluated
  assert.match(lines[3], /^2,[0-9.]+,[0-9.e-]+(,[0-9.e-]+){8}$/); // test and validation metrics
  assert.ok(r.final.validation && r.final.validation.users > 0);
  assert.ok(r.selected && r.evaluations.includes(r.selected));
  assert.equal(r.config.testHistory, 'train+validation');
  const svg = reportSvg(r);
  assert.match(svg, /^<svg /);
  for (const name of ['centralized HR@10', 'centralized NDCG@10', 'popularity HR@10']) assert.ok(svg.includes(name), name);
  assert.equal(r.final.round, 3);
  assert.equal(typeof r.machine.cpuModel, 'string');
});

test('the candidates do not depend on --seed: popularity is the same for every seed, the model metrics are not', () => {
  const ds = generateSyntheticDataset({ users: 120, items: 300, seed: 12 });
  const run = (seed: number) =>
    runCentralizedExperiment({
      source: { kind: 'synthetic', users: 120, items: 300, seed: 12 },
      dataset: ds,
      cfg: { dim: 8, seed, epochs: 1, batchSize: 16, learningRate: 0.5, negatives: 2, l2: 1e-4, evalEvery: 1 },
    });
  const a = run(1);
  const b = run(2);
  assert.deepEqual(b.baselines.popularity, a.baselines.popularity);
  assert.deepEqual(b.config.candidates, a.config.candidates);
  assert.notDeepEqual(b.final, a.final);
});
