/**
 * `npm run bench:sim`: throughput of the in-process simulation (typed-array trainer).
 * 1. ML-100K, all 943 clients per round, dim 32, 1 local epoch, 4 negatives per positive
 *    (skipped with a message when ../shared/data/ml-100k is absent; FLOCK_ML100K=PATH overrides).
 * 2. A synthetic fleet of 20,000 clients (1,000 items), all clients per round.
 * Each with 1 thread and with one worker_thread per core (same numbers, tested).
 * Prints client updates per second and seconds per round (training, clipping,
 * aggregation and the server step; evaluation excluded), and the ratio against the
 * socket fleet (a real coordinator process and socket.io participants) on ML-100K.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RoundRecord } from '../../shared/protocol/messages.ts';
import { runSocketFleet } from '../fleet/socket-fleet.ts';
import type { Dataset, UserSplit } from '../../shared/data/interactions.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { modelApiPath } from '../../shared/protocol/model-routes.ts';
import { DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { runInProcessSimulation, type SimulationConfig } from './in-process-simulation.ts';
import { loadSource, machineInfo, researchSplit, type DataSource } from './simulation-data.ts';

const base: SimulationConfig = {
  dim: 32, seed: 1, rounds: 5, clientsPerRound: 1, localEpochs: 1, batchSize: 32, learningRate: 0.5, negatives: 4,
  l2: 1e-4, clipNorm: 1, serverLearningRate: 1, rowNormalize: DEFAULT_SERVE_CONFIG.rowNormalize, evalEvery: 0, trainer: 'typed-array',
};

const workerCounts = [...new Set([1, Math.max(1, os.availableParallelism())])];

async function bench(name: string, source: DataSource, rounds: number): Promise<void> {
  const dataset = await loadSource(source);
  const split = researchSplit(dataset);
  for (const workers of workerCounts) await benchOne(`${name}, ${workers} worker${workers > 1 ? 's' : ''}`, dataset, split, rounds, workers);
}

async function benchOne(label: string, dataset: Dataset, split: UserSplit, rounds: number, workers: number): Promise<void> {
  const r = await runInProcessSimulation(dataset, split, { ...base, rounds, workers: workers > 1 ? workers : undefined });
  const perRound = r.rounds.map((x) => x.seconds);
  const mean = r.trainSeconds / r.rounds.length;
  console.log(
    `${label}: ${r.rounds[0].clients} clients/round, ${rounds} rounds: ${Math.round(r.clientUpdates / r.trainSeconds)} client updates/s, ` +
      `${mean.toFixed(3)} s/round (min ${Math.min(...perRound).toFixed(3)}, max ${Math.max(...perRound).toFixed(3)}); ` +
      `final HR@10 ${r.evaluations[r.evaluations.length - 1].sampled.hr10.toFixed(4)}`,
  );
}

/**
 * The same work over real sockets: a `flock serve` child process and 943 socket
 * participants (the browser's Participant class, tfjs wasm) in this process. Returns
 * each aggregated round's seconds as the coordinator measured them (open → close).
 */
async function socketRoundSeconds(dataPath: string, clients: number, rounds: number): Promise<number[]> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'flock-bench-sim-'));
  const cli = fileURLToPath(new URL('../cli.ts', import.meta.url));
  const args = ['--import', 'tsx', cli, 'serve', '--port', '0', '--data', dataPath, '--data-dir', dataDir, '--static', path.join(dataDir, 'none'),
    '--models', 'mf', '--dim', '32', '--min-clients', String(clients), '--local-epochs', '1', '--negatives', '4', '--batch-size', '32', '--lr', '0.5',
    '--round-delay', '0', '--max-rounds', String(rounds)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`coordinator exited (${code}) before listening`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.includes('"msg":"listening"')) resolve((JSON.parse(line) as { url: string }).url);
      });
    });
    await runSocketFleet({ url, model: 'mf', clients, rounds, dataPath, seed: 1, log: () => undefined });
    const { rounds: records } = (await (await fetch(`${url}${modelApiPath('mf')}/rounds`)).json()) as { rounds: RoundRecord[] };
    return records.filter((r) => r.outcome === 'aggregated').map((r) => (r.closedAt - r.startedAt) / 1000);
  } finally {
    child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const m = machineInfo();
console.log(`bench:sim on ${m.cpuModel} × ${m.cpus}, Node ${m.node}; dim 32, 1 local epoch, 4 negatives, batch 32, typed-array trainer; main thread alone, then worker_threads (one per core)`);
const ml = path.resolve(process.env.FLOCK_ML100K ?? '../shared/data/ml-100k');
if (existsSync(path.join(ml, 'u.data'))) {
  await bench('ML-100K', { kind: 'movielens', path: ml }, 5);
  // What each socket participant runs per round (trainLocally on tfjs wasm + buildUpdate),
  // here without sockets: a lower bound on the socket fleet's cost for the same work.
  await useNodeBackend('wasm');
  const dataset = await loadSource({ kind: 'movielens', path: ml });
  const split = researchSplit(dataset);
  const fast = await runInProcessSimulation(dataset, split, { ...base, rounds: 1 });
  const tfjs = await runInProcessSimulation(dataset, split, { ...base, rounds: 1, trainer: 'tfjs' });
  console.log(
    `ML-100K, tfjs trainer (the participant's trainLocally + buildUpdate, no sockets): ${Math.round(tfjs.clientUpdates / tfjs.trainSeconds)} client updates/s, ` +
      `${tfjs.trainSeconds.toFixed(2)} s/round: the typed-array path is ${(tfjs.trainSeconds / fast.trainSeconds).toFixed(1)}× faster ` +
      `(the socket fleet adds socket.io, encoding and validation on top)`,
  );
  const socket = await socketRoundSeconds(ml, dataset.numUsers, 3);
  console.log(
    `ML-100K, socket fleet (flock serve + ${dataset.numUsers} socket.io participants on tfjs wasm, same work): ` +
      `${median(socket).toFixed(2)} s/round (median of ${socket.length}; ${socket.map((x) => x.toFixed(2)).join(', ')}): ` +
      `in-process is ${(median(socket) / fast.trainSeconds).toFixed(1)}× faster`,
  );
} else console.log(`ML-100K: skipped, no MovieLens 100K at ${ml} (set FLOCK_ML100K=PATH to the folder with u.data and u.item)`);
await bench('synthetic 20,000 clients × 1,000 items', { kind: 'synthetic', users: 20_000, items: 1_000, seed: 7 }, 3);
