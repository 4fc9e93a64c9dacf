/**
 * The round a membership attack reads: the in-process MF simulation's round loop
 * (federated-rounds.ts: the round engine's sampling, RoundAggregation, the server step)
 * with the fused client trainer (shared/train/mf-fused-training.ts, trainMfClients — the
 * simulation's default trainer, one thread), run for `cfg.rounds` rounds; every client
 * update of the LAST round is kept, as the coordinator received it: the clipped
 * row-sparse Δ (item embedding rows and item biases of the positives and sampled
 * negatives the client touched).
 *
 * Seeds are the in-process simulation's (in-process-simulation.ts): client id
 * fleetClientId(seed, u), participant seed hashString(id), user vector
 * initParams(local, participantSeed), training seed deriveSeed(roundSeed, r,
 * participantSeed), initial globals initParams(global, seed).
 */
import type { Dataset, UserSplit } from '../../shared/data/interactions.ts';
import { prepareEvaluation } from '../../shared/eval/evaluate-split.ts';
import type { EvaluationCandidates } from '../../shared/eval/candidates.ts';
import { FlockError } from '../../shared/errors.ts';
import { createEmbeddingModel, type PairBatch } from '../../shared/model/embedding-model.ts';
import { initParams } from '../../shared/model/init-params.ts';
import type { RecommenderModel } from '../../shared/model/recommender-model.ts';
import { deriveSeed, hashString } from '../../shared/random/seeded-random.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { MfFusedScratch, trainMfClients } from '../../shared/train/mf-fused-training.ts';
import type { RowSparseTensor } from '../../shared/update/row-sparse-clip.ts';
import { evaluateMf } from './evaluate-mf.ts';
import { fleetClientId, runFederatedRounds } from './federated-rounds.ts';
import type { SimulationConfig } from './simulation-config.ts';
import type { EvaluationPoint } from './simulation-result.ts';

/** One client's update of the attacked round, as the coordinator received it. */
export interface CapturedUpdate {
  readonly user: number;
  readonly itemEmbedding: RowSparseTensor;
  readonly itemBias: RowSparseTensor;
  readonly numExamples: number;
}

export interface AttackedRound {
  readonly round: number;
  /** The attacked round's updates, in the round's sampled order. */
  readonly updates: readonly CapturedUpdate[];
  /** The global model the attacked round's clients trained from (public: the coordinator broadcast it). */
  readonly globalsBefore: NamedTensors;
  /** The model's test metrics before and after the attacked round (context for the table). */
  readonly evaluations: readonly EvaluationPoint[];
  readonly seconds: number;
}

/**
 * Runs cfg.rounds rounds of the in-process MF simulation (typed-array trainer, one
 * thread, no DP, no attack) and returns the last round's client updates.
 */
export async function runAttackedRound(dataset: Dataset, split: UserSplit, cfg: SimulationConfig, candidates?: EvaluationCandidates): Promise<AttackedRound> {
  if ((cfg.model ?? 'mf') !== 'mf') throw new FlockError('bad-config', 'the membership attack reads MF updates (item embedding rows and biases): --model mf');
  if (cfg.dp || cfg.attack) throw new FlockError('bad-config', 'the membership attack captures plain client updates: the DP and secure-aggregation views are built from them, not from a DP run');
  if (!(Number.isInteger(cfg.rounds) && cfg.rounds >= 1)) throw new FlockError('bad-config', `the attacked round is the last of --rounds: need at least 1, got ${cfg.rounds}`);
  const t0 = performance.now();
  const { dim, numItems } = { dim: cfg.dim, numItems: dataset.numItems };
  const model = createEmbeddingModel({ numItems, dim }) as RecommenderModel<PairBatch>;
  const spec = model.spec;
  const numUsers = split.train.length;
  const participantSeed = Int32Array.from({ length: numUsers }, (_, u) => hashString(fleetClientId(cfg.seed, u)) | 0);
  const users = new Float32Array(numUsers * dim);
  for (let u = 0; u < numUsers; u++) users.set(initParams(spec, 'local', participantSeed[u] >>> 0).userEmbedding, u * dim);
  const historyOffsets = new Int32Array(numUsers + 1);
  for (let u = 0; u < numUsers; u++) historyOffsets[u + 1] = historyOffsets[u] + split.train[u].length;
  const historyItems = new Int32Array(historyOffsets[numUsers]);
  for (let u = 0; u < numUsers; u++) historyItems.set(split.train[u], historyOffsets[u]);
  const eligible = [...Array(numUsers).keys()].filter((u) => split.train[u].length > 0);
  const train = { localEpochs: cfg.localEpochs, batchSize: cfg.batchSize, learningRate: cfg.learningRate, negatives: cfg.negatives, l2: cfg.l2 };
  const scratch = new MfFusedScratch();
  const evaluation = prepareEvaluation(split, numItems, { testHistory: cfg.testHistory, candidates });
  const updates: CapturedUpdate[] = [];
  let globalsBefore: NamedTensors | null = null;

  const result = await runFederatedRounds({
    cfg: { ...cfg, evalEvery: 0 },
    spec,
    initial: initParams(spec, 'global', cfg.seed),
    eligible,
    hooks: {},
    evaluate: (globals) => evaluateMf(model, globals, users, dim, evaluation, (u) => participantSeed[u] >>> 0),
    trainClients: async ({ round, roundSeed, selected, globals, clipNorm, submit, tally }) => {
      const last = round === cfg.rounds;
      if (last) globalsBefore = globals;
      const tables = { numItems, dim, itemEmbedding: globals.itemEmbedding, itemBias: globals.itemBias, users, historyOffsets, historyItems };
      const seeds = Uint32Array.from(selected, (u) => deriveSeed(roundSeed, round, participantSeed[u] >>> 0));
      const out = trainMfClients(tables, Int32Array.from(selected), seeds, { train, clipNorm }, scratch);
      for (let c = 0; c < selected.length; c++) {
        const a = out.rowOffsets[c];
        const b = out.rowOffsets[c + 1];
        const rows = out.rows.subarray(a, b);
        const delta = { itemEmbedding: { rows, data: out.itemEmbedding.subarray(a * dim, b * dim) }, itemBias: { rows, data: out.itemBias.subarray(a, b) } };
        submit(selected[c], delta, out.numExamples[c], out.preClipNorm[c]);
        tally.add({ loss: out.loss[c], numExamples: out.numExamples[c], preClipNorm: out.preClipNorm[c], clipped: out.clipped[c] > 0, bytes: 0 });
        if (last) {
          // The arena is reused by the next call: keep copies.
          const kept = rows.slice();
          updates.push({
            user: selected[c],
            itemEmbedding: { rows: kept, data: delta.itemEmbedding.data.slice() },
            itemBias: { rows: kept, data: delta.itemBias.data.slice() },
            numExamples: out.numExamples[c],
          });
        }
      }
      return selected.length;
    },
  });
  return { round: cfg.rounds, updates, globalsBefore: globalsBefore!, evaluations: result.evaluations, seconds: (performance.now() - t0) / 1000 };
}
