/**
 * SASRec simulation speed: seconds per round (training + aggregation, evaluation
 * excluded) of `flock simulate --model sasrec`, with the round's clients batched
 * (sequence-batched-round.ts) and one trainLocally per client, runs alternated side by
 * side on one data set. For `npm run bench:sim` (bench-sim.ts calls benchSasrecRounds).
 *
 *   node --import tsx coordinator/simulation/sequence-bench.ts [ml-100k folder] [rounds] [repeats]
 */
import type { Dataset, UserSplit } from '../../shared/data/interactions.ts';
import { DEFAULT_LEARNING_RATE, DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { DEFAULT_BATCH_CLIENTS } from './sequence-batched-round.ts';
import { DEFAULT_SEQUENCE_SETTINGS } from './sequence-settings.ts';

export interface SasrecRoundBench {
  readonly clientsPerRound: number;
  readonly localEpochs: number;
  /** Seconds of every measured round, per path, in run order. */
  readonly perClientSeconds: number[];
  readonly batchedSeconds: number[];
  readonly medianPerClient: number;
  readonly medianBatched: number;
  /** medianPerClient / medianBatched. */
  readonly speedup: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * s/round of the SASRec simulation (defaults of `flock simulate --model sasrec`: dim 32,
 * 2 local epochs, batch 32, lr 0.1), per-client and batched runs alternated `repeats`
 * times, `rounds` rounds each; the tfjs backend must be set (useNodeBackend) before.
 */
export async function benchSasrecRounds(
  dataset: Dataset,
  split: UserSplit,
  opts: { rounds?: number; repeats?: number; clientsPerRound?: number; localEpochs?: number; batchClients?: number; log?: (line: string) => void } = {},
): Promise<SasrecRoundBench> {
  const rounds = opts.rounds ?? 3;
  const clientsPerRound = opts.clientsPerRound ?? 0.1;
  const localEpochs = opts.localEpochs ?? DEFAULT_SERVE_CONFIG.round.localEpochs;
  const r = DEFAULT_SERVE_CONFIG.round;
  const base: SimulationConfig = {
    dim: DEFAULT_SERVE_CONFIG.dim, seed: 1, rounds, clientsPerRound, localEpochs, batchSize: r.batchSize,
    learningRate: DEFAULT_LEARNING_RATE.sasrec, negatives: r.negatives, l2: r.l2, clipNorm: r.clipNorm,
    serverLearningRate: DEFAULT_SERVE_CONFIG.serverLearningRate, rowNormalize: true, evalEvery: 0, trainer: 'tfjs', model: 'sasrec',
  };
  const perClientSeconds: number[] = [];
  const batchedSeconds: number[] = [];
  for (let rep = 0; rep < (opts.repeats ?? 2); rep++) {
    for (const batchClients of [1, opts.batchClients ?? DEFAULT_BATCH_CLIENTS]) {
      const res = await runInProcessSimulation(dataset, split, { ...base, sequence: { ...DEFAULT_SEQUENCE_SETTINGS, batchClients } });
      const s = res.rounds.map((m) => m.seconds);
      (batchClients === 1 ? perClientSeconds : batchedSeconds).push(...s);
      opts.log?.(`sasrec ${batchClients === 1 ? 'per-client' : `batched (${batchClients})`}: ${s.map((x) => x.toFixed(2)).join(' ')} s/round`);
    }
  }
  const medianPerClient = median(perClientSeconds);
  const medianBatched = median(batchedSeconds);
  return { clientsPerRound, localEpochs, perClientSeconds, batchedSeconds, medianPerClient, medianBatched, speedup: medianPerClient / medianBatched };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { useNodeBackend } = await import('../runtime/node-tf-backend.ts');
  const { loadSource, researchSplit } = await import('./simulation-data.ts');
  await useNodeBackend('wasm');
  const dataset = await loadSource({ kind: 'movielens', path: process.argv[2] ?? 'data/ml-100k' });
  const b = await benchSasrecRounds(dataset, researchSplit(dataset), { rounds: Number(process.argv[3] ?? 3), repeats: Number(process.argv[4] ?? 2), log: console.log });
  console.log(`SASRec, ${b.clientsPerRound} of the clients per round, ${b.localEpochs} local epochs: per-client ${b.medianPerClient.toFixed(2)} s/round, batched ${b.medianBatched.toFixed(2)} s/round (median), ${b.speedup.toFixed(2)}×`);
}
