/**
 * `npm run bench:sim`: throughput of the in-process simulation, in one run (issue 12).
 *
 * 1. MF client step alone on ML-100K (943 clients, dim 32, 1 local epoch, 4 negatives,
 *    clipping on): the per-client reference trainer (trainMfLocally + clipRowSparseToL2,
 *    what the simulation ran before the fused kernel), the fused JS kernel (trainMfClients,
 *    bit-identical to the reference) and the wasm SIMD kernel (kernel 'wasm', within
 *    float32 rounding; shared/train/mf-fused-training.test.ts), alternating, medians of
 *    process CPU time and wall time, and the ratios.
 * 2. Whole rounds (training, clipping, aggregation, server step; evaluation excluded):
 *    s/round (median over rounds) and client updates/s, MF on ML-100K (all 943 clients per
 *    round) and on a synthetic 20,000-client × 1,000-item fleet, with 1 and 2 threads
 *    (`--workers`; the same numbers for any count, tested), under the default combine
 *    (centered clipping) and 'mean' (plain FedAvg, the streaming path), each with the JS
 *    and the wasm kernel (`--kernel js,wasm`) so the before/after ratio comes from one run.
 * 3. SASRec at 10 % of ML-100K per round (trained on tfjs; `--no-sasrec` skips it): one
 *    trainLocally per client against the round's clients batched, alternated, with 1 and 2
 *    local epochs (sequence-bench.ts).
 * 4. The coordinator's aggregation GB/s beside a plain axpy over the same bytes
 *    (coordinator/bench/aggregation-throughput.ts).
 *
 * Switches: --eval-every N (default 0: evaluation only at round 0 and the end, never
 * timed), --no-clip (C = 1e30, never binds), --rounds-ml N, --rounds-synthetic N,
 * --workers LIST (default 1,2), --combine LIST (ML-100K, default "default,mean"),
 * --synthetic-combine LIST (default "mean": centered clipping stores 20,000 updates), --no-sasrec,
 * --no-aggregation, --no-kernel, --kernel LIST (default "js,wasm"); --sockets adds the ML-100K round through the participant's
 * tfjs path (trainLocally + buildUpdate, no sockets) and through the socket fleet (a
 * `flock serve` child process + 943 socket.io participants), as before the fused kernel. ML-100K is read from ../shared/data/ml-100k
 * (FLOCK_ML100K=PATH overrides; skipped with a message when absent).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_COMBINE, type CombineRule } from '../../shared/aggregate/aggregation-settings.ts';
import type { Dataset, UserSplit } from '../../shared/data/interactions.ts';
import { createEmbeddingModel } from '../../shared/model/embedding-model.ts';
import { initParams } from '../../shared/model/init-params.ts';
import type { TrainConfig } from '../../shared/model/recommender-model.ts';
import { MfFusedScratch, trainMfClients, type MfKernel } from '../../shared/train/mf-fused-training.ts';
import { MfScratch, trainMfLocally } from '../../shared/train/mf-typed-array-training.ts';
import { clipRowSparseToL2 } from '../../shared/update/row-sparse-clip.ts';
import type { RoundRecord } from '../../shared/protocol/messages.ts';
import { modelApiPath } from '../../shared/protocol/model-routes.ts';
import { measureAggregationThroughput } from '../bench/aggregation-throughput.ts';
import { runSocketFleet } from '../fleet/socket-fleet.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';
import { benchSasrecRounds } from './sequence-bench.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { loadSource, machineInfo, researchSplit, type DataSource } from './simulation-data.ts';

const benchOptions = {
  options: {
    'eval-every': { type: 'string', default: '0' },
    'no-clip': { type: 'boolean', default: false },
    'rounds-ml': { type: 'string', default: '7' },
    'rounds-synthetic': { type: 'string', default: '3' },
    workers: { type: 'string', default: '1,2' },
    combine: { type: 'string', default: 'default,mean' },
    'synthetic-combine': { type: 'string', default: 'mean' },
    'no-sasrec': { type: 'boolean', default: false },
    'no-aggregation': { type: 'boolean', default: false },
    'no-kernel': { type: 'boolean', default: false },
    sockets: { type: 'boolean', default: false },
    kernel: { type: 'string', default: 'js,wasm' },
    help: { type: 'boolean', short: 'h', default: false },
  },
} as const;
/** The parsed switches; an unknown or malformed one is a one-line error pointing at --help. */
function parseSwitches() {
  try {
    return parseArgs(benchOptions).values;
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)} (npm run bench:sim -- --help)`);
    process.exit(2);
  }
}
const o = parseSwitches();

const USAGE = `npm run bench:sim -- [options]: the research simulation's throughput, in one run (issue 12)

  --eval-every N          evaluate every N rounds (default 0: only at round 0 and the end, never timed)
  --no-clip               clip bound 1e30 (never binds) instead of C = 1
  --rounds-ml N           ML-100K rounds per configuration (default 7)
  --rounds-synthetic N    synthetic 20,000-client rounds per configuration (default 3)
  --workers LIST          threads to run with, e.g. 1,2 (default 1,2; results do not depend on it)
  --combine LIST          ML-100K combine rules: default (centered clipping), mean, … (default "default,mean")
  --synthetic-combine L   the synthetic fleet's rules (default "mean")
  --kernel LIST           MF client kernels: js, wasm (default "js,wasm")
  --no-kernel             skip the client-step-alone comparison
  --no-sasrec             skip SASRec at 10 % of ML-100K
  --no-aggregation        skip the coordinator-vs-axpy table
  --sockets               add the tfjs participant path and a real socket fleet (slow)
  -h, --help              this text

ML-100K is read from ../shared/data/ml-100k (FLOCK_ML100K=PATH overrides; skipped with a message when absent).`;
if (o.help) {
  console.log(USAGE);
  process.exit(0);
}
/** A whole number ≥ min from a flag, or a clear error. */
function count(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${flag}: a whole number ≥ ${min}, got '${value}' (npm run bench:sim -- --help)`);
    process.exit(2);
  }
  return n;
}
count('eval-every', o['eval-every'], 0);
count('rounds-ml', o['rounds-ml'], 1);
count('rounds-synthetic', o['rounds-synthetic'], 1);
for (const w of o.workers.split(',')) count('workers', w, 1);

const clipNorm = o['no-clip'] ? 1e30 : 1;
const base: SimulationConfig = {
  dim: 32, seed: 1, rounds: 5, clientsPerRound: 1, localEpochs: 1, batchSize: 32, learningRate: 0.5, negatives: 4,
  l2: 1e-4, clipNorm, serverLearningRate: 1, rowNormalize: DEFAULT_SERVE_CONFIG.rowNormalize, evalEvery: Number(o['eval-every']), trainer: 'typed-array',
};
const workerCounts = o.workers.split(',').map(Number);
const kernels = o.kernel.split(',').map((k) => {
  if (k !== 'js' && k !== 'wasm') {
    console.error(`--kernel: 'js' or 'wasm', got '${k}' (npm run bench:sim -- --help)`);
    process.exit(2);
  }
  return k as MfKernel;
});
const combinesOf = (list: string): { label: string; rule: CombineRule }[] =>
  list.split(',').map((c) => (c === 'default' ? { label: `default combine (${DEFAULT_COMBINE.kind})`, rule: DEFAULT_COMBINE } : { label: `combine ${c}`, rule: { kind: c } as CombineRule }));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** One MF row: s/round (median over rounds) and client updates/s of a run. */
async function mfRow(label: string, dataset: Dataset, split: UserSplit, rounds: number, workers: number, combine: CombineRule, kernel: MfKernel): Promise<void> {
  // Process CPU seconds between consecutive round hooks (all threads), for rounds 2 … R−1:
  // the last round's hook comes after the final evaluation. Less sensitive to a loaded machine than wall time.
  const cpuAt: number[] = [];
  const cpuNow = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1e6;
  };
  const r = await runInProcessSimulation(dataset, split, { ...base, rounds, workers, combine }, { onRound: () => cpuAt.push(cpuNow()) }, undefined, kernel);
  const cpu = cpuAt.slice(1, -1).map((c, i) => c - cpuAt[i]);
  const perRound = r.rounds.map((x) => x.seconds);
  const last = r.evaluations[r.evaluations.length - 1];
  console.log(
    `  ${label}: ${median(perRound).toFixed(3)} s/round (median of ${perRound.length}; min ${Math.min(...perRound).toFixed(3)}), ` +
      (cpu.length > 0 ? `${median(cpu).toFixed(3)} s CPU/round (all threads, median of ${cpu.length}), ` : '') +
      `${Math.round(r.clientUpdates / r.trainSeconds)} client updates/s; ${r.rounds[0].clients} clients/round; final validation HR@10 ${(last.validation ?? last).sampled.hr10.toFixed(4)}`,
  );
}

async function mfRows(name: string, source: DataSource, rounds: number, combines: { label: string; rule: CombineRule }[]): Promise<void> {
  const dataset = await loadSource(source);
  const split = researchSplit(dataset);
  console.log(`MF, ${name}, ${rounds} rounds, all clients per round, clipping ${o['no-clip'] ? 'off' : 'on (C = 1)'}, --eval-every ${base.evalEvery}:`);
  for (const { label, rule } of combines) {
    for (const workers of workerCounts) {
      for (const kernel of kernels) await mfRow(`${label}, ${workers} thread${workers > 1 ? 's' : ''}, ${kernel} kernel`, dataset, split, rounds, workers, rule, kernel);
    }
  }
}

/**
 * The MF client step alone: reference per-client trainer vs the fused kernel on the same
 * clients, seeds and globals, alternating, `repeats` times each. Thread CPU time (less
 * sensitive to a loaded machine) and wall time, medians.
 */
function kernelRows(dataset: Dataset, split: UserSplit, repeats: number): void {
  const dim = 32;
  const numItems = dataset.numItems;
  const U = split.train.length;
  const model = createEmbeddingModel({ numItems, dim });
  const g = initParams(model.spec, 'global', 1);
  const gEmb = g.itemEmbedding as Float32Array;
  const users = new Float32Array(U * dim);
  for (let u = 0; u < U; u++) users.set(initParams(model.spec, 'local', u + 1).userEmbedding, u * dim);
  const offsets = new Int32Array(U + 1);
  for (let u = 0; u < U; u++) offsets[u + 1] = offsets[u] + split.train[u].length;
  const items = new Int32Array(offsets[U]);
  for (let u = 0; u < U; u++) items.set(split.train[u], offsets[u]);
  const clients = Int32Array.from([...Array(U).keys()].filter((u) => split.train[u].length > 0));
  const seeds = Uint32Array.from(clients, (u) => (u * 7919 + 3) >>> 0);
  const cfg: TrainConfig = { localEpochs: 1, batchSize: 32, learningRate: 0.5, negatives: 4, l2: 1e-4 };
  const tables = { numItems, dim, itemEmbedding: gEmb, itemBias: g.itemBias, users: users.slice(), historyOffsets: offsets, historyItems: items };
  const refScratch = new MfScratch();
  const fusedScratch = new MfFusedScratch();
  const reference = () => {
    const us = users.slice();
    for (let c = 0; c < clients.length; c++) {
      const u = clients[c];
      const v = us.subarray(u * dim, u * dim + dim);
      const r = trainMfLocally(model, dim, { itemEmbedding: gEmb, itemBias: g.itemBias }, v, split.train[u], cfg, seeds[c], refScratch);
      clipRowSparseToL2({ itemEmbedding: { rows: r.delta.rows, data: r.delta.itemEmbedding }, itemBias: { rows: r.delta.rows, data: r.delta.itemBias } }, clipNorm);
      v.set(r.userEmbedding);
    }
  };
  // Blocks of 32 clients with one reused arena, as the simulation runs it on one thread.
  const fusedWith = (kernel: MfKernel) => () => {
    tables.users.set(users);
    for (let a = 0; a < clients.length; a += 32) trainMfClients(tables, clients.subarray(a, a + 32), seeds.subarray(a, a + 32), { train: cfg, clipNorm, kernel }, fusedScratch);
  };
  const fused = fusedWith('js');
  const wasm = fusedWith('wasm');
  const time = (f: () => void) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    const c = process.cpuUsage(c0);
    return { cpu: (c.user + c.system) / 1e6, wall: (performance.now() - t0) / 1000 };
  };
  reference();
  fused();
  wasm();
  const ref: { cpu: number; wall: number }[] = [];
  const fus: { cpu: number; wall: number }[] = [];
  const was: { cpu: number; wall: number }[] = [];
  for (let i = 0; i < repeats; i++) {
    ref.push(time(reference));
    fus.push(time(fused));
    was.push(time(wasm));
  }
  const m = (xs: { cpu: number; wall: number }[], k: 'cpu' | 'wall') => median(xs.map((x) => x[k]));
  console.log(`MF client step alone, ML-100K, ${clients.length} clients (train, Δ, clip; no aggregation), ${repeats} alternating repeats, medians:`);
  console.log(`  reference (trainMfLocally + clipRowSparseToL2, per client): ${m(ref, 'cpu').toFixed(3)} s CPU, ${m(ref, 'wall').toFixed(3)} s wall`);
  console.log(`  fused JS (trainMfClients, blocks of 32):                     ${m(fus, 'cpu').toFixed(3)} s CPU, ${m(fus, 'wall').toFixed(3)} s wall`);
  console.log(`  fused wasm SIMD (trainMfClients kernel 'wasm', blocks of 32): ${m(was, 'cpu').toFixed(3)} s CPU, ${m(was, 'wall').toFixed(3)} s wall`);
  console.log(`  ratios (CPU medians): reference / fused JS ${(m(ref, 'cpu') / m(fus, 'cpu')).toFixed(2)}×, fused JS / wasm ${(m(fus, 'cpu') / m(was, 'cpu')).toFixed(2)}×, reference / wasm ${(m(ref, 'cpu') / m(was, 'cpu')).toFixed(2)}×`);
}

/**
 * SASRec at 10 % of ML-100K per round (the CLI's SASRec defaults), before and after in one
 * run: one trainLocally per client (--batch-clients 1, what the simulation ran before) and
 * the round's clients batched (sequence-batched-round.ts), alternated, with 1 and 2 local
 * epochs (how far batching carries past the first local step, which all clients take at
 * the same global weights).
 */
async function sasrecRows(dataset: Dataset, split: UserSplit): Promise<void> {
  await useNodeBackend('wasm');
  console.log('SASRec, ML-100K, 10 % of clients per round, 1 thread (tfjs wasm), per-client vs batched alternated, 2 × 2 rounds each, medians:');
  for (const localEpochs of [1, 2]) {
    const b = await benchSasrecRounds(dataset, split, { rounds: 2, repeats: 2, localEpochs });
    console.log(
      `  ${localEpochs} local epoch${localEpochs > 1 ? 's' : ''}: per-client ${b.medianPerClient.toFixed(2)} s/round, batched ${b.medianBatched.toFixed(2)} s/round, ${b.speedup.toFixed(2)}×`,
    );
  }
}

/**
 * The same work over real sockets: a `flock serve` child process and `clients` socket
 * participants (the browser's Participant class, tfjs wasm) in this process. Returns each
 * aggregated round's seconds as the coordinator measured them (open → close).
 */
async function socketRoundSeconds(dataPath: string, clients: number, rounds: number): Promise<number[]> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'flock-bench-sim-'));
  const cli = fileURLToPath(new URL('../cli.ts', import.meta.url));
  const args = ['--import', 'tsx', cli, 'serve', '--port', '0', '--data', dataPath, '--data-dir', dataDir, '--static', path.join(dataDir, 'none'),
    '--models', 'mf', '--dim', '32', '--min-clients', String(clients), '--local-epochs', '1', '--negatives', '4', '--batch-size', '32', '--lr', '0.5',
    '--round-delay', '0', '--round-interval', '0', '--max-rounds', String(rounds)];
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

/** ML-100K through the participant's tfjs path (no sockets) and through the socket fleet, against the fused in-process round. */
async function socketRows(ml: string, dataset: Dataset, split: UserSplit): Promise<void> {
  await useNodeBackend('wasm');
  const fast = await runInProcessSimulation(dataset, split, { ...base, rounds: 1 });
  const tfjs = await runInProcessSimulation(dataset, split, { ...base, rounds: 1, trainer: 'tfjs' });
  console.log(
    `ML-100K, tfjs trainer (the participant's trainLocally + buildUpdate, no sockets): ${Math.round(tfjs.clientUpdates / tfjs.trainSeconds)} client updates/s, ` +
      `${tfjs.trainSeconds.toFixed(2)} s/round: the fused in-process round is ${(tfjs.trainSeconds / fast.trainSeconds).toFixed(1)}× faster`,
  );
  const socket = await socketRoundSeconds(ml, dataset.numUsers, 3);
  console.log(
    `ML-100K, socket fleet (flock serve + ${dataset.numUsers} socket.io participants on tfjs wasm, same work): ` +
      `${median(socket).toFixed(2)} s/round (median of ${socket.length}): in-process is ${(median(socket) / fast.trainSeconds).toFixed(1)}× faster`,
  );
}

const mi = machineInfo();
console.log(`bench:sim on ${mi.cpuModel} × ${mi.cpus}, Node ${mi.node}; dim 32, 1 local epoch, 4 negatives, batch 32, lr 0.5, typed-array (fused) MF trainer, kernels ${kernels.join(', ')}`);
const ml = path.resolve(process.env.FLOCK_ML100K ?? '../shared/data/ml-100k');
const haveMl = existsSync(path.join(ml, 'u.data'));
if (haveMl) {
  const dataset = await loadSource({ kind: 'movielens', path: ml });
  const split = researchSplit(dataset);
  if (!o['no-kernel']) kernelRows(dataset, split, 7);
  await mfRows('ML-100K', { kind: 'movielens', path: ml }, Number(o['rounds-ml']), combinesOf(o.combine));
  if (o.sockets) await socketRows(ml, dataset, split);
} else console.log(`ML-100K: skipped, no MovieLens 100K at ${ml} (set FLOCK_ML100K=PATH to the folder with u.data and u.item)`);
await mfRows('synthetic 20,000 clients × 1,000 items', { kind: 'synthetic', users: 20_000, items: 1_000, seed: 7 }, Number(o['rounds-synthetic']), combinesOf(o['synthetic-combine']));
if (haveMl && !o['no-sasrec']) {
  const dataset = await loadSource({ kind: 'movielens', path: ml });
  await sasrecRows(dataset, researchSplit(dataset));
}
if (!o['no-aggregation']) for (const line of measureAggregationThroughput().lines) console.log(line);
