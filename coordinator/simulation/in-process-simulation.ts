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
import { createServerOptimizer, type ServerOptimizer, type ServerOptimizerKind } from '../../shared/aggregate/server-optimizer.ts';
import { DEFAULT_COMBINE, DEFAULT_WEIGHTING, type AggregationSettings, type CombineRule, type WeightingPolicy } from '../../shared/aggregate/aggregation-settings.ts';
import { RoundAggregation } from '../../shared/aggregate/round-aggregation.ts';
import { ATTACKER_CLAIMED_EXAMPLES, pickAttackers, poisonUpdate, type AttackKind } from '../../shared/attack/poison-update.ts';
import type { RankingReport } from '../../shared/eval/evaluate-ranking.ts';
import type { EvaluationCandidates } from '../../shared/eval/candidates.ts';
import { prepareEvaluation, type EvaluationSetup, type SplitReport, type TestHistory } from '../../shared/eval/evaluate-split.ts';
import { createEmbeddingModel, type PairBatch } from '../../shared/model/embedding-model.ts';
import { initParams } from '../../shared/model/init-params.ts';
import type { RecommenderModel, TrainConfig } from '../../shared/model/recommender-model.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import { deriveSeed, hashString, SeededRandom } from '../../shared/random/seeded-random.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { trainLocally } from '../../shared/train/local-training.ts';
import { buildUpdate } from '../../shared/update/build-update.ts';
import type { DeltaTensors } from '../../shared/update/check-update.ts';
import { sampleParticipants } from '../rounds/sample-participants.ts';
import { evaluateMf } from './evaluate-mf.ts';
import { runSequenceSimulation, type SequenceSettings } from './sequence-simulation.ts';
import { SimulationWorkerPool } from './worker-pool.ts';
import { SimulationDpRounds, type RoundPrivacy, type SimulationDp, type SimulationPrivacy } from './dp-simulation.ts';
import type { DpPlan } from '../../shared/privacy/dp-plan.ts';
import { isEvaluationRound, RoundTally } from './round-tally.ts';

export type SimulationTrainer = 'typed-array' | 'tfjs';

export interface SimulationConfig {
  readonly dim: number;
  readonly seed: number;
  readonly rounds: number;
  /** In (0, 1]: fraction of clients per round; > 1: a count. */
  readonly clientsPerRound: number;
  readonly localEpochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly negatives: number;
  readonly l2: number;
  readonly clipNorm: number;
  readonly serverLearningRate: number;
  readonly rowNormalize: boolean;
  /** Evaluate every k rounds (and after round 0 and the last round); 0 = only start and end. */
  readonly evalEvery: number;
  readonly trainer: SimulationTrainer;
  /** worker_threads training clients in parallel (typed-array trainer only); 1 = main thread. Results do not depend on it. */
  readonly workers?: number;
  /** 'mf' (default) or 'sasrec': the sequence model, always trained on the tfjs path (sequence-simulation.ts). */
  readonly model?: 'mf' | 'sasrec';
  /** sasrec only: maxLen, blocks, heads, dropout (dim is `dim`). */
  readonly sequence?: SequenceSettings;
  /** What the test item is scored from (shared/eval/evaluate-split.ts); default 'train+validation'. */
  readonly testHistory?: TestHistory;
  /** Server step (shared/aggregate/server-optimizer.ts); default plain SGD with serverLearningRate. */
  readonly serverOptimizer?: ServerOptimizerKind;
  /** momentum: β (default 0.9); adam: β1 (default 0.9). */
  readonly serverMomentum?: number;
  /** adam: β2 (default 0.99). */
  readonly serverBeta2?: number;
  /** adam: adaptivity τ (default 1e-3). */
  readonly serverEpsilon?: number;
  /** The weight stage (default DEFAULT_WEIGHTING). */
  readonly weighting?: WeightingPolicy;
  /** The combine stage (default DEFAULT_COMBINE). */
  readonly combine?: CombineRule;
  /** Poisoning: this fraction of the eligible clients (fixed, seeded) send poisonUpdate(kind, …) claiming 10⁷ examples. */
  readonly attack?: SimulationAttack;
  /**
   * User-level differential privacy (dp-simulation.ts): Poisson sampling at rate q, the
   * noise stage over the fixed cohort q × population, the accountant charging every
   * round. Needs combine 'mean', weighting 'uniform' and rowNormalize false.
   */
  readonly dp?: SimulationDp;
  /** Also score the test item from the other test history at every evaluation (EvaluationPoint.testByHistory). */
  readonly bothTestHistories?: boolean;
}

export interface SimulationAttack {
  readonly kind: AttackKind;
  /** In [0, 1): fraction of the eligible clients that are attackers. */
  readonly fraction: number;
}

/** Under DP (cfg.dp) a round also carries its RoundPrivacy columns: ε spent so far, δ, z, C, noise std. */
export interface RoundMetrics extends Partial<RoundPrivacy> {
  readonly round: number;
  readonly clients: number;
  /** Example-weighted mean of the clients' last-epoch training loss. */
  readonly trainLoss: number;
  readonly meanPreClipNorm: number;
  readonly fractionClipped: number;
  readonly bytesUploaded: number;
  /** Local training + clipping + aggregation + server step, without evaluation. */
  readonly seconds: number;
}

/** HR@10 / NDCG@10 under the sampled (100 negatives) and full-ranking protocols. */
export interface HeldOutMetrics {
  readonly sampled: { hr10: number; ndcg10: number };
  readonly full: { hr10: number; ndcg10: number };
  readonly users: number;
}

/** Test-item metrics (top level, as before) and, when the split has validation items, validation-item metrics. */
export interface EvaluationPoint extends HeldOutMetrics {
  readonly round: number;
  readonly validation?: HeldOutMetrics;
  /** With cfg.bothTestHistories: the test item scored from each history (the top level is cfg.testHistory's). */
  readonly testByHistory?: Partial<Record<TestHistory, HeldOutMetrics>>;
}

export interface SimulationResult {
  readonly rounds: RoundMetrics[];
  readonly evaluations: EvaluationPoint[];
  readonly globals: NamedTensors;
  readonly clientUpdates: number;
  readonly trainSeconds: number;
  readonly evalSeconds: number;
  /** Under DP: the plan and the privacy spent. */
  readonly privacy?: SimulationPrivacy;
}

const heldOutMetrics = (r: RankingReport): HeldOutMetrics => ({
  sampled: { hr10: r.sampled.hr, ndcg10: r.sampled.ndcg },
  full: { hr10: r.full.hr, ndcg10: r.full.ndcg },
  users: r.users,
});

/** An evaluation point from a test report (or both reports of evaluateSplit; validation omitted when no user has one). */
export function toEvaluationPoint(round: number, r: RankingReport | SplitReport): EvaluationPoint {
  if (!('test' in r)) return { round, ...heldOutMetrics(r) };
  return r.validation.users > 0 ? { round, ...heldOutMetrics(r.test), validation: heldOutMetrics(r.validation) } : { round, ...heldOutMetrics(r.test) };
}

/** The evaluations of one run, in order, and the seconds spent computing them. */
export class EvaluationLog {
  readonly points: EvaluationPoint[] = [];
  seconds = 0;

  /** Measures the model after `round` with `measure` (and `extend`, timed alike), records the point and returns it. */
  record(round: number, measure: () => RankingReport | SplitReport, extend?: (p: EvaluationPoint) => EvaluationPoint): EvaluationPoint {
    const t = performance.now();
    let p = toEvaluationPoint(round, measure());
    if (extend) p = extend(p);
    this.seconds += (performance.now() - t) / 1000;
    this.points.push(p);
    return p;
  }
}

/** The client id a simulated user gets, identical to the socket fleet's. */
export const fleetClientId = (seed: number, user: number) => `fleet-${seed}-${user}`;

/** How many clients a round samples: a fraction of the eligible (≤ 1) or a count (> 1). */
export function clientsForRound(eligible: number, clientsPerRound: number): number {
  const want = clientsPerRound <= 1 ? Math.ceil(clientsPerRound * eligible) : Math.round(clientsPerRound);
  return Math.max(1, Math.min(eligible, want));
}

/**
 * With cfg.bothTestHistories: the run's evaluation with the other test history ('train'
 * ↔ 'train+validation'), on the same candidates; else undefined.
 */
export function otherTestEvaluation(
  cfg: SimulationConfig,
  setup: EvaluationSetup,
  evaluate: (globals: NamedTensors, setup: EvaluationSetup) => SplitReport,
): FederatedRoundsOptions['otherTest'] {
  if (!cfg.bothTestHistories) return undefined;
  const testHistory: TestHistory = setup.testHistory === 'train' ? 'train+validation' : 'train';
  const other = prepareEvaluation(setup.split, setup.numItems, { testHistory, candidates: setup.candidates });
  return { testHistory, evaluate: (globals) => evaluate(globals, other) };
}

/** The aggregation pipeline's settings of a simulation config (the coordinator's defaults where unset). */
export function aggregationSettingsFor(cfg: SimulationConfig): AggregationSettings {
  return { weighting: cfg.weighting ?? DEFAULT_WEIGHTING, combine: cfg.combine ?? DEFAULT_COMBINE, clipNorm: cfg.clipNorm, rowNormalize: cfg.rowNormalize };
}

/** The attackers of a run: a fixed seeded subset of the eligible clients (none without an attack). */
export function simulationAttackers(cfg: SimulationConfig, eligible: readonly number[]): Set<number> {
  return cfg.attack && cfg.attack.fraction > 0 ? pickAttackers(eligible, cfg.attack.fraction, deriveSeed(cfg.seed, 0x417ac)) : new Set();
}

/** The server optimizer a simulation config asks for (plain SGD with the server learning rate by default). */
export function serverOptimizerFor(cfg: SimulationConfig): ServerOptimizer {
  return createServerOptimizer({
    kind: cfg.serverOptimizer ?? 'sgd',
    learningRate: cfg.serverLearningRate,
    momentum: cfg.serverMomentum,
    beta2: cfg.serverBeta2,
    epsilon: cfg.serverEpsilon,
  });
}

export interface SimulationHooks {
  onRound?: (m: RoundMetrics, evaluation: EvaluationPoint | undefined) => void;
  /** Under DP: the resolved plan (z, δ, q, budget), once, before round 1. */
  onDpPlan?: (plan: DpPlan) => void;
}

const now = () => performance.now() / 1000;

/** One round's sampled clients, as a simulation trains them against `globals`. */
export interface RoundClients {
  readonly round: number;
  /** deriveSeed(seed, round, 1): the round seed every participant's training seed derives from. */
  readonly roundSeed: number;
  readonly selected: readonly number[];
  readonly globals: NamedTensors;
  /** The L2 bound the clients clip to this round (cfg.clipNorm; under adaptive DP clipping, the round's). */
  readonly clipNorm: number;
  /**
   * Hand each client's clipped update (and its pre-clip norm, for adaptive clipping) to the
   * round's aggregation here (an attacker's is replaced by its poisoned update and 10⁷
   * claimed examples on the way)...
   */
  readonly submit: (user: number, delta: DeltaTensors, numExamples: number, preClipNorm?: number) => void;
  /** ...and record each client's (honest) loss, norm and bytes here. */
  readonly tally: RoundTally;
}

export interface FederatedRoundsOptions {
  readonly cfg: SimulationConfig;
  readonly spec: ModelSpec;
  readonly initial: NamedTensors;
  /** Users who can train (have data); each round samples among them with the round engine's seeds. */
  readonly eligible: readonly number[];
  readonly evaluate: (globals: NamedTensors) => RankingReport | SplitReport;
  /** With cfg.bothTestHistories: the evaluation with the other test history (its test item only is kept). */
  readonly otherTest?: { readonly testHistory: TestHistory; readonly evaluate: (globals: NamedTensors) => RankingReport | SplitReport };
  /** Trains the round's clients; returns how many client updates it folded in. */
  readonly trainClients: (round: RoundClients) => Promise<number>;
  readonly hooks: SimulationHooks;
}

/**
 * The round loop shared by the MF and sequence simulations, mirroring the coordinator's:
 * sample → train the clients (the model's own part) → server optimizer step on the
 * streaming mean → per-round metrics, and an evaluation on the rounds isEvaluationRound
 * picks (always before the hook, which may be absent).
 */
export async function runFederatedRounds(o: FederatedRoundsOptions): Promise<SimulationResult> {
  const { cfg } = o;
  let globals = o.initial;
  const server = serverOptimizerFor(cfg);
  const perRound = clientsForRound(o.eligible.length, cfg.clientsPerRound);
  const rounds: RoundMetrics[] = [];
  const log = new EvaluationLog();
  const settings = aggregationSettingsFor(cfg);
  const attackers = simulationAttackers(cfg, o.eligible);
  // Differential privacy (dp-simulation.ts): checked and planned before anything runs.
  const dp = cfg.dp
    ? SimulationDpRounds.create(cfg.dp, settings, cfg.seed, { population: o.eligible.length, clientsPerRound: cfg.clientsPerRound, rounds: cfg.rounds, workers: cfg.workers, attack: cfg.attack !== undefined })
    : undefined;
  if (dp) o.hooks.onDpPlan?.(dp.plan);
  const other = o.otherTest;
  const primary = cfg.testHistory ?? 'train+validation';
  const testOnly = (p: HeldOutMetrics): HeldOutMetrics => ({ sampled: p.sampled, full: p.full, users: p.users });
  const extend = other && ((p: EvaluationPoint): EvaluationPoint => ({
    ...p,
    testByHistory: { [primary]: testOnly(p), [other.testHistory]: testOnly(toEvaluationPoint(p.round, other.evaluate(globals))) },
  }));
  let trainSeconds = 0;
  let clientUpdates = 0;
  log.record(0, () => o.evaluate(globals), extend);
  for (let r = 1; r <= cfg.rounds; r++) {
    const t0 = now();
    const selected = dp ? dp.sample(r, o.eligible) : sampleParticipants([...o.eligible], 0, perRound, deriveSeed(cfg.seed, r));
    const clipNorm = dp ? dp.clipNorm : cfg.clipNorm;
    const aggregation = dp
      ? new RoundAggregation(o.spec, { ...settings, clipNorm }, { maxUpdates: Math.max(1, selected.length), dp: dp.roundDp(r) })
      : new RoundAggregation(o.spec, settings, { maxUpdates: perRound });
    const submit = (user: number, delta: DeltaTensors, numExamples: number, preClipNorm?: number) => {
      if (cfg.attack && attackers.has(user)) {
        const poisoned = poisonUpdate(cfg.attack.kind, delta, cfg.clipNorm, new SeededRandom(deriveSeed(cfg.seed, r, user, 0x417ac)));
        aggregation.addDelta(poisoned, ATTACKER_CLAIMED_EXAMPLES);
      } else {
        aggregation.addDelta(delta, numExamples, preClipNorm);
      }
    };
    const tally = new RoundTally();
    clientUpdates += await o.trainClients({ round: r, roundSeed: deriveSeed(cfg.seed, r, 1), selected, globals, clipNorm, submit, tally });
    let privacy: RoundPrivacy | undefined;
    if (dp) {
      const released = dp.release(r, o.spec, aggregation);
      privacy = released.privacy;
      globals = server.step(globals, released.delta);
    } else {
      globals = server.step(globals, aggregation.result());
    }
    const seconds = now() - t0;
    trainSeconds += seconds;
    const m: RoundMetrics = privacy ? { ...tally.metrics(r, seconds), ...privacy } : tally.metrics(r, seconds);
    rounds.push(m);
    const point = isEvaluationRound(r, cfg.rounds, cfg.evalEvery) ? log.record(r, () => o.evaluate(globals), extend) : undefined;
    o.hooks.onRound?.(m, point);
  }
  return { rounds, evaluations: log.points, globals, clientUpdates, trainSeconds, evalSeconds: log.seconds, ...(dp ? { privacy: dp.summary() } : {}) };
}

/** A SharedArrayBuffer when several threads share it, else a plain one. */
const sharedBuffer = (threads: number, bytes: number): ArrayBuffer | SharedArrayBuffer => (threads > 1 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));

export async function runInProcessSimulation(
  dataset: Dataset,
  split: UserSplit,
  cfg: SimulationConfig,
  hooks: SimulationHooks = {},
  /** The evaluation's candidate lists (default: the data set's own, shared/eval/candidates.ts). */
  candidates?: EvaluationCandidates,
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
    pool = await SimulationWorkerPool.start(workers, { numItems, dim, train, trainOffsets, trainItems, globals: sharedGlobals.buffer, users: users.buffer });
  }
  const streaming = aggregationSettingsFor(cfg).combine.kind === 'mean';
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
      }, streaming);
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
