/**
 * `flock simulate` without `--url`: the whole fleet in one process, no sockets. Every
 * user of the data set is a client; each round follows the coordinator's data path with
 * the coordinator's own functions:
 *
 *   sample (sampleParticipants, the round engine's seeds) → each client trains locally
 *   → Δ of the GLOBAL parameters, clipped to ‖Δ‖₂ ≤ C → the coordinator's aggregation
 *   pipeline, RoundAggregation (validate → weight → bound → combine; `weighting` and
 *   `combine` as configured, defaults DEFAULT_WEIGHTING / DEFAULT_COMBINE, rowNormalize
 *   as `flock serve`) → server optimizer step (shared/aggregate/server-optimizer.ts;
 *   default plain SGD = applyServerUpdate).
 *
 * Poisoning experiments (`attack`): a fixed seeded subset of the eligible clients
 * (pickAttackers, shared/attack/poison-update.ts) train honestly, then send
 * poisonUpdate(kind, their clipped Δ, C) and claim ATTACKER_CLAIMED_EXAMPLES (10⁷)
 * examples; their local user vectors keep the honest training and they are evaluated
 * like everyone else.
 *
 * Seeds mirror the socket path exactly: client id `fleet-${seed}-${user}` (as the socket
 * fleet), participant seed hashString(clientId), local user embedding
 * initParams(local, participantSeed), training seed deriveSeed(deriveSeed(seed, r, 1), r,
 * participantSeed), initial globals initParams(global, seed).
 *
 * Two trainers:
 * - 'typed-array' (default, fast): shared/train/mf-typed-array-training.ts on the touched
 *   rows only, clipped with clipRowSparseToL2 (the same norm and scaling as clipToL2) and
 *   handed to RoundAggregation.addDelta row-sparse (the same result as add() of the
 *   dense encoded update; tested).
 *   Bytes uploaded are those of the dense encoded update a real client sends.
 * - 'tfjs': trainLocally on the active TensorFlow.js backend + buildUpdate (Δ, clip,
 *   encode) + add() of the decoded-equivalent dense Δ: literally the participant's path.
 */
import type { Dataset, UserSplit } from '../../shared/data/interactions.ts';
import type { EvaluationCandidates } from '../../shared/eval/candidates.ts';
import { prepareEvaluation } from '../../shared/eval/evaluate-split.ts';
import { createEmbeddingModel, type PairBatch } from '../../shared/model/embedding-model.ts';
import { initParams } from '../../shared/model/init-params.ts';
import type { RecommenderModel, TrainConfig } from '../../shared/model/recommender-model.ts';
import { deriveSeed, hashString } from '../../shared/random/seeded-random.ts';
import { trainLocally } from '../../shared/train/local-training.ts';
import { buildUpdate } from '../../shared/update/build-update.ts';
import { evaluateMf } from './evaluate-mf.ts';
import { fleetClientId, otherTestEvaluation, runFederatedRounds, type RoundClients, type SimulationHooks } from './federated-rounds.ts';
import type { SimulationConfig } from './simulation-config.ts';
import type { SimulationResult } from './simulation-result.ts';
import { runSequenceSimulation } from './sequence-simulation.ts';
import { SimulationWorkerPool } from './worker-pool.ts';
import type { MfKernel } from '../../shared/train/mf-fused-training.ts';
import { MfWasmKernel, wasmSimdAvailable } from '../../shared/train/mf-wasm-kernel.ts';

/** The fused MF kernel a simulation uses unless told: the wasm SIMD one where it runs (SIMD, dim % 4 = 0), else plain JS. */
export const defaultMfKernel = (dim: number): MfKernel => (wasmSimdAvailable() && MfWasmKernel.supportsDim(dim) ? 'wasm' : 'js');

/** A SharedArrayBuffer when several threads share it, else a plain one. */
const sharedBuffer = (threads: number, bytes: number): ArrayBuffer | SharedArrayBuffer => (threads > 1 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));

export async function runInProcessSimulation(
  dataset: Dataset,
  split: UserSplit,
  cfg: SimulationConfig,
  hooks: SimulationHooks = {},
  /** The evaluation's candidate lists (default: the data set's own, shared/eval/candidates.ts). */
  candidates?: EvaluationCandidates,
  /** The typed-array trainer's kernel (default defaultMfKernel(dim): wasm SIMD where it runs). */
  mfKernel: MfKernel = defaultMfKernel(cfg.dim),
): Promise<SimulationResult> {
  if (cfg.model === 'sasrec') return runSequenceSimulation(dataset.numItems, split, cfg, hooks, candidates);
  const { dim } = cfg;
  const numItems = dataset.numItems;
  const model = createEmbeddingModel({ numItems, dim }) as RecommenderModel<PairBatch>;
  const spec = model.spec;
  const initial = initParams(spec, 'global', cfg.seed);
  const numUsers = split.train.length;
  const participantSeed = Int32Array.from({ length: numUsers }, (_, u) => hashString(fleetClientId(cfg.seed, u)) | 0);
  const workers = cfg.trainer === 'typed-array' ? Math.max(1, Math.floor(cfg.workers ?? 1)) : 1;
  const fused = cfg.trainer === 'typed-array';
  const users = new Float32Array(workers > 1 ? new SharedArrayBuffer(numUsers * dim * 4) : new ArrayBuffer(numUsers * dim * 4));
  for (let u = 0; u < numUsers; u++) users.set(initParams(spec, 'local', participantSeed[u] >>> 0).userEmbedding, u * dim);
  const eligible = [...Array(numUsers).keys()].filter((u) => split.train[u].length > 0);
  const train: TrainConfig = { localEpochs: cfg.localEpochs, batchSize: cfg.batchSize, learningRate: cfg.learningRate, negatives: cfg.negatives, l2: cfg.l2 };
  // A dense update's encoded size depends only on the model: what every client uploads.
  const denseUpdateBytes = buildUpdate(spec, initial, initial, { round: 0, baseVersion: 0, numExamples: 1, clipNorm: cfg.clipNorm }).bytes.byteLength;
  const evaluation = prepareEvaluation(split, numItems, { testHistory: cfg.testHistory, candidates });

  // The typed-array trainer: the fused MF kernel (shared/train/mf-fused-training.ts) over
  // shared tables, on the main thread and workers − 1 worker_threads (worker-pool.ts).
  let pool: SimulationWorkerPool | null = null;
  const sharedGlobals = fused ? new Float32Array(sharedBuffer(workers, (numItems * dim + numItems) * 4)) : null;
  if (sharedGlobals) {
    const trainOffsets = new Int32Array(sharedBuffer(workers, (numUsers + 1) * 4));
    for (let u = 0; u < numUsers; u++) trainOffsets[u + 1] = trainOffsets[u] + split.train[u].length;
    const trainItems = new Int32Array(sharedBuffer(workers, trainOffsets[numUsers] * 4));
    for (let u = 0; u < numUsers; u++) trainItems.set(split.train[u], trainOffsets[u]);
    pool = await SimulationWorkerPool.start(workers, { numItems, dim, train, kernel: mfKernel, trainOffsets, trainItems, globals: sharedGlobals.buffer, users: users.buffer });
  }
  const trainClients = async ({ round: r, roundSeed, selected, globals, clipNorm, submit, tally }: RoundClients): Promise<number> => {
    let updates = 0;
    if (pool && sharedGlobals) {
      sharedGlobals.set(globals.itemEmbedding, 0);
      sharedGlobals.set(globals.itemBias, numItems * dim);
      const seeds = Uint32Array.from(selected, (u) => deriveSeed(roundSeed, r, participantSeed[u] >>> 0));
      await pool.round(Int32Array.from(selected), seeds, clipNorm, (first, part) => {
        for (let c = 0; c < part.numExamples.length; c++) {
          const a = part.rowOffsets[c];
          const b = part.rowOffsets[c + 1];
          const rows = part.rows.subarray(a, b);
          submit(
            selected[first + c],
            { itemEmbedding: { rows, data: part.itemEmbedding.subarray(a * dim, b * dim) }, itemBias: { rows, data: part.itemBias.subarray(a, b) } },
            part.numExamples[c],
            part.preClipNorm[c],
          );
          tally.add({ loss: part.loss[c], numExamples: part.numExamples[c], preClipNorm: part.preClipNorm[c], clipped: part.clipped[c] > 0, bytes: denseUpdateBytes });
          updates++;
        }
      });
      return updates;
    }
    for (const u of selected) {
      const seed = deriveSeed(roundSeed, r, participantSeed[u] >>> 0);
      const userVec = users.subarray(u * dim, u * dim + dim);
      {
        const res = await trainLocally(model, globals, { userEmbedding: userVec.slice() }, split.train[u], train, seed);
        const update = buildUpdate(spec, res.globals, globals, { round: r, baseVersion: r - 1, numExamples: res.numExamples, clipNorm });
        submit(u, update.delta, res.numExamples, update.preClipNorm);
        userVec.set(res.locals.userEmbedding);
        tally.add({ loss: res.loss, numExamples: res.numExamples, preClipNorm: update.preClipNorm, clipped: update.clipped, bytes: update.bytes.byteLength });
      }
      updates++;
    }
    return updates;
  };
  try {
    return await runFederatedRounds({
      cfg, spec, initial, eligible, hooks, trainClients,
      evaluate: (globals) => evaluateMf(model, globals, users, dim, evaluation, (u) => participantSeed[u] >>> 0),
      otherTest: otherTestEvaluation(cfg, evaluation, (globals, setup) => evaluateMf(model, globals, users, dim, setup, (u) => participantSeed[u] >>> 0)),
    });
  } finally {
    await pool?.close();
  }
}
