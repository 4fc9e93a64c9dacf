import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { leaveOneOutSplit } from '../../shared/data/leave-one-out.ts';
import { DEFAULT_CATALOG, generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { decodeWeights, fromWireTensors } from '../../shared/update/tensor-codec.ts';
import { runSocketFleet } from '../fleet/socket-fleet.ts';
import { weightsApiPath } from '../../shared/protocol/model-routes.ts';
import { DEFAULT_SERVE_CONFIG as D } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';

test('in-process simulation and the socket fleet + coordinator reach the same global model for the same seed', async () => {
  const clients = 6;
  const rounds = 2;
  const seed = 5;
  const dim = 8;
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-equiv-'));
  const coordinator = await startCoordinator(
    {
      ...D, models: ['mf'], port: 0, dataDir, dim, seed, minClients: clients, clientsPerRound: 1, roundDelayMs: 10, roundIntervalMs: 0, maxRounds: rounds,
      staticDir: path.join(dataDir, 'none'), round: { ...D.round, localEpochs: 1 },
    },
    pino({ level: 'silent' }),
  );
  let socketGlobals: NamedTensors = {};
  try {
    const report = await runSocketFleet({ url: coordinator.url, model: 'mf', clients, rounds, seed, backend: 'wasm', log: () => {} });
    assert.equal(report.endVersion, rounds);
    assert.equal(report.rejections, 0);
    const res = await fetch(`${coordinator.url}${weightsApiPath('mf', 'latest')}`);
    socketGlobals = fromWireTensors(decodeWeights(new Uint8Array(await res.arrayBuffer())).tensors);
  } finally {
    await coordinator.close();
    await rm(dataDir, { recursive: true, force: true });
  }

  // The same clients in-process: the socket fleet's users (the first `clients` users with a
  // held-out item) and its split (no validation item), everyone else without data.
  const dataset = generateSyntheticDataset({ ...DEFAULT_CATALOG });
  const full = leaveOneOutSplit(dataset, { validation: false });
  const fleetUsers = new Set([...Array(dataset.numUsers).keys()].filter((u) => full.test[u] >= 0).slice(0, clients));
  const split = { ...full, train: full.train.map((t, u) => (fleetUsers.has(u) ? t : new Int32Array(0))) };
  const sim = await runInProcessSimulation(dataset, split, {
    dim, seed, rounds, clientsPerRound: 1, localEpochs: 1, batchSize: D.round.batchSize, learningRate: D.learningRate.mf,
    negatives: D.round.negatives, l2: D.round.l2, clipNorm: D.round.clipNorm, serverLearningRate: D.serverLearningRate,
    rowNormalize: D.rowNormalize, weighting: D.weighting, combine: D.combine, evalEvery: 0, trainer: 'typed-array',
  });
  assert.equal(sim.rounds[0].clients, clients);
  for (const name of ['itemEmbedding', 'itemBias']) {
    const a = sim.globals[name];
    const b = socketGlobals[name];
    assert.equal(a.length, b.length);
    let max = 0;
    for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
    // Aggregation order (arrival vs sampled) and tfjs vs typed-array float rounding differ.
    assert.ok(max < 1e-5, `${name}: max |in-process − socket| = ${max}`);
  }
  // And the model moved: the comparison is not of two untouched initial tables.
  const moved = sim.globals.itemBias.some((v) => v !== 0);
  assert.ok(moved);
});
