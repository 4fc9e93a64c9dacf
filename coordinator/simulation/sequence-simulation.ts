/**
 * The SASRec sequence model in the research runs (`flock simulate --model sasrec`
 * in-process and `flock train --centralized --model sasrec`). Training always uses the
 * participant's TensorFlow.js path (trainLocally + buildUpdate) on the active backend —
 * in the simulation a round's clients go through it together, one batched computation
 * per local step (sequence-batched-round.ts, the same updates; `batchClients`);
 * aggregation is the coordinator's own pipeline, RoundAggregation (via runFederatedRounds:
 * weighting, combine rule, attackers as configured; rowNormalize touches only rowSparse
 * parameters, here the item table) + the server optimizer (shared/aggregate/
 * server-optimizer.ts; plain SGD = applyServerUpdate by default) — no special cases.
 *
 * The split and metrics are the MF runs': leave-one-out by time; a person's training
 * sequence is their train items in time order (what leaveOneOutSplit gives); the test
 * item is scored with scoreAll(globals, {}, train ++ [validation item]) (SASRec's
 * protocol, `testHistory` 'train+validation', the default) or after train only
 * ('train'); the validation item after train. Seeds mirror the MF simulation:
 * initial globals initParams(global, seed), client training seed
 * deriveSeed(deriveSeed(seed, r, 1), r, hashString(fleet client id)).
 */
import type { UserSplit } from '../../shared/data/interactions.ts';
import { createServerOptimizer } from '../../shared/aggregate/server-optimizer.ts';
import type { EvaluationCandidates } from '../../shared/eval/candidates.ts';
import { evaluateSplit, prepareEvaluation, type EvaluationSetup, type SplitReport } from '../../shared/eval/evaluate-split.ts';
import { initParams } from '../../shared/model/init-params.ts';
import type { RecommenderModel, TrainConfig } from '../../shared/model/recommender-model.ts';
import { createSequenceModel, type SequenceBatch, type SequenceModelConfig } from '../../shared/model/sasrec-model.ts';
import { deriveSeed, hashString, SeededRandom } from '../../shared/random/seeded-random.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { trainOnBatches } from '../../shared/train/local-training.ts';
import { buildUpdate } from '../../shared/update/build-update.ts';
import { DEFAULT_BATCH_CLIENTS, trainSequenceClients } from './sequence-batched-round.ts';
import type { CentralizedConfig, CentralizedResult, EpochMetrics } from './centralized-training.ts';
import { fleetClientId, otherTestEvaluation, runFederatedRounds, type SimulationHooks } from './federated-rounds.ts';
import { toEvaluationPoint, type EvaluationPoint, type SimulationResult } from './simulation-result.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { isEvaluationRound } from './round-tally.ts';
import { DEFAULT_SEQUENCE_SETTINGS, type SequenceSettings } from './sequence-settings.ts';



function sequenceModel(numItems: number, dim: number, s: SequenceSettings | undefined): RecommenderModel<SequenceBatch> {
  const cfg: SequenceModelConfig = { numItems, dim, ...(s ?? DEFAULT_SEQUENCE_SETTINGS) };
  return createSequenceModel(cfg);
}

/**
 * HR@10 / NDCG@10 (the setup's fixed sampled candidates and full ranking) of next-item
 * scores: the test item after each user's `setup.histories` (default train ++ [validation
 * item], the SASRec protocol), the validation item after the train sequence.
 */
export function evaluateSequence(model: RecommenderModel, globals: NamedTensors, setup: EvaluationSetup): SplitReport {
  return evaluateSplit({ setup, scoreAll: (_u, history) => model.scoreAll(globals, {}, history) });
}

export async function runSequenceSimulation(
  numItems: number,
  split: UserSplit,
  cfg: SimulationConfig,
  hooks: SimulationHooks = {},
  candidates?: EvaluationCandidates,
): Promise<SimulationResult> {
  const model = sequenceModel(numItems, cfg.dim, cfg.sequence);
  const spec = model.spec;
  const numUsers = split.train.length;
  // A sequence model needs at least one transition (two train items) to produce a batch.
  const eligible = [...Array(numUsers).keys()].filter((u) => split.train[u].length > 1);
  const train: TrainConfig = { localEpochs: cfg.localEpochs, batchSize: cfg.batchSize, learningRate: cfg.learningRate, negatives: cfg.negatives, l2: cfg.l2 };
  const setup = prepareEvaluation(split, numItems, { testHistory: cfg.testHistory, candidates });
  return runFederatedRounds({
    cfg, spec, eligible, hooks,
    initial: initParams(spec, 'global', cfg.seed),
    evaluate: (globals) => evaluateSequence(model, globals, setup),
    otherTest: otherTestEvaluation(cfg, setup, (globals, other) => evaluateSequence(model, globals, other)),
    trainClients: async ({ round: r, roundSeed, selected, globals, clipNorm, submit, tally }) => {
      const jobs = selected.map((u) => ({ history: split.train[u], seed: deriveSeed(roundSeed, r, hashString(fleetClientId(cfg.seed, u)) >>> 0) }));
      const shape = { numItems, dim: cfg.dim, ...(cfg.sequence ?? DEFAULT_SEQUENCE_SETTINGS) };
      for await (const [i, res] of trainSequenceClients(model, shape, globals, jobs, train, cfg.sequence?.batchClients ?? DEFAULT_BATCH_CLIENTS)) {
        const u = selected[i];
        const update = buildUpdate(spec, res.globals, globals, { round: r, baseVersion: r - 1, numExamples: res.numExamples, clipNorm });
        submit(u, update.delta, res.numExamples, update.preClipNorm);
        tally.add({ loss: res.loss, numExamples: res.numExamples, preClipNorm: update.preClipNorm, clipped: update.clipped, bytes: update.bytes.byteLength });
      }
      return selected.length;
    },
  });
}

/** Concatenates sequence batches (windows of different people) into one batch. */
function mergeBatches(parts: readonly SequenceBatch[], dropoutSeed: number): SequenceBatch {
  if (parts.length === 1) return { ...parts[0], dropoutSeed };
  const rows = parts.reduce((n, b) => n + b.rows, 0);
  const k = parts[0].negativesPerPosition;
  const L = parts[0].inputs.length / parts[0].rows;
  const inputs = new Int32Array(rows * L);
  const mask = new Float32Array(rows * L);
  const positives = new Int32Array(rows * L);
  const negatives = new Int32Array(rows * L * k);
  let row = 0;
  let numTargets = 0;
  for (const b of parts) {
    inputs.set(b.inputs, row * L);
    mask.set(b.mask, row * L);
    positives.set(b.positives, row * L);
    negatives.set(b.negatives, row * L * k);
    row += b.rows;
    numTargets += b.numTargets;
  }
  return { rows, inputs, mask, positives, negatives, negativesPerPosition: k, numTargets, dropoutSeed };
}

/**
 * Centralized SASRec on the pooled data: each epoch visits the users in a fresh seeded
 * order, cuts each one's train sequence into windows (the model's own makeBatches, as a
 * client does), packs the windows of consecutive users into batches of up to
 * `batchSize` windows and runs plain SGD (trainOnBatches) on the one global model, or
 * with `optimizer: 'adam'` Adam (the SASRec paper's optimizer): each batch's gradient
 * (one SGD step of rate 1 on trainOnBatches) goes through the server-optimizer Adam with
 * bias correction.
 */
export async function trainCentralizedSequence(
  numItems: number,
  split: UserSplit,
  cfg: CentralizedConfig,
  onEpoch?: (m: EpochMetrics, e: EvaluationPoint | undefined) => void,
  candidates?: EvaluationCandidates,
): Promise<CentralizedResult> {
  const model = sequenceModel(numItems, cfg.dim, cfg.sequence);
  let globals = initParams(model.spec, 'global', cfg.seed);
  const train: TrainConfig = { localEpochs: 1, batchSize: cfg.batchSize, learningRate: cfg.learningRate, negatives: cfg.negatives, l2: cfg.l2 };
  const active = [...Array(split.train.length).keys()].filter((u) => split.train[u].length > 1);
  const setup = prepareEvaluation(split, numItems, { testHistory: cfg.testHistory, candidates });
  const evaluations: EvaluationPoint[] = [toEvaluationPoint(0, evaluateSequence(model, globals, setup))];
  const adam =
    cfg.optimizer === 'adam'
      ? createServerOptimizer({ kind: 'adam', learningRate: cfg.learningRate, momentum: 0.9, beta2: 0.98, epsilon: 1e-8, biasCorrection: true })
      : null;
  const epochs: EpochMetrics[] = [];
  let trainSeconds = 0;
  for (let e = 1; e <= cfg.epochs; e++) {
    const t0 = performance.now();
    const rng = new SeededRandom(deriveSeed(cfg.seed, e, 2));
    const order = rng.shuffle([...active]);
    const batches: SequenceBatch[] = [];
    let pending: SequenceBatch[] = [];
    let pendingRows = 0;
    const flush = () => {
      if (pending.length > 0) batches.push(mergeBatches(pending, rng.int(0x7fffffff)));
      pending = [];
      pendingRows = 0;
    };
    for (const u of order) {
      for (const b of model.makeBatches(split.train[u], train, numItems, new SeededRandom(deriveSeed(cfg.seed, e, u)))) {
        if (pendingRows + b.rows > Math.max(1, cfg.batchSize)) flush();
        pending.push(b);
        pendingRows += b.rows;
      }
    }
    flush();
    let loss: number;
    if (adam) {
      // One SGD step of learning rate 1 gives Δ = −gradient; Adam turns it into the step.
      const sgdStep: TrainConfig = { ...train, learningRate: 1 };
      let lossSum = 0;
      for (const b of batches) {
        const res = await trainOnBatches(model, globals, {}, [[b]], sgdStep);
        const delta: NamedTensors = {};
        for (const [name, old] of Object.entries(globals)) {
          const d = new Float32Array(old.length);
          const next = res.globals[name];
          for (let i = 0; i < d.length; i++) d[i] = next[i] - old[i];
          delta[name] = d;
        }
        globals = adam.step(globals, delta);
        lossSum += res.loss;
      }
      loss = batches.length > 0 ? lossSum / batches.length : 0;
    } else {
      const res = await trainOnBatches(model, globals, {}, [batches], train);
      globals = res.globals;
      loss = res.loss;
    }
    const seconds = (performance.now() - t0) / 1000;
    trainSeconds += seconds;
    const m = { epoch: e, trainLoss: loss, seconds };
    epochs.push(m);
    const due = isEvaluationRound(e, cfg.epochs, cfg.evalEvery);
    const point = due ? toEvaluationPoint(e, evaluateSequence(model, globals, setup)) : undefined;
    if (point) evaluations.push(point);
    onEpoch?.(m, point);
  }
  return { epochs, evaluations, trainSeconds };
}
