import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { runFederatedExperiment } from './experiments.ts';
import { writeResearchOutputs } from './research-report.ts';

test('a federated experiment writes report.json (documented schema), rounds.csv and hr-ndcg.svg', async () => {
  const source = { kind: 'synthetic' as const, users: 150, items: 60, seed: 2 };
  const report = await runFederatedExperiment({
    source,
    dataset: generateSyntheticDataset(source),
    centralizedEpochs: 2,
    sim: {
      dim: 8, seed: 1, rounds: 3, clientsPerRound: 40, localEpochs: 1, batchSize: 16, learningRate: 0.5, negatives: 2,
      l2: 1e-4, clipNorm: 1, serverLearningRate: 5, rowNormalize: true, evalEvery: 2, trainer: 'typed-array',
    },
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flock-report-'));
  try {
    const files = await writeResearchOutputs(dir, report);
    const json = JSON.parse(await readFile(files[0], 'utf8'));
    assert.equal(json.format, 'flock-research-report');
    assert.equal(json.mode, 'federated-in-process');
    for (const k of ['data', 'config', 'machine', 'rounds', 'evaluations', 'final', 'baselines', 'timing']) assert.ok(k in json, k);
    assert.deepEqual(Object.keys(json.rounds[0]), ['round', 'clients', 'trainLoss', 'meanPreClipNorm', 'fractionClipped', 'bytesUploaded', 'seconds']);
    assert.deepEqual(json.evaluations.map((e: { round: number }) => e.round), [0, 2, 3]);
    assert.equal(json.rounds[0].clients, 40);
    assert.ok(json.baselines.centralized && json.baselines.popularity);
    assert.equal(json.timing.clientUpdates, 120);
    const csv = (await readFile(files[1], 'utf8')).trim().split('\n');
    assert.equal(csv.length, 1 + 1 + 3);
    const svg = await readFile(files[2], 'utf8');
    for (const s of ['federated HR@10', 'centralized HR@10', 'popularity NDCG@10']) assert.ok(svg.includes(s), s);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
