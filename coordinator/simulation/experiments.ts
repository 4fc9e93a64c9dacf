/**
 * The two research experiments behind the CLI (`flock simulate` in-process and
 * `flock train --centralized`), each returning a ResearchReport.
 */
import type { Dataset, UserSplit } from '../../shared/data/interactions.ts';
import type { EvaluationCandidates } from '../../shared/eval/candidates.ts';
import { prepareEvaluation, type TestHistory } from '../../shared/eval/evaluate-split.ts';
import { evaluatePopularity, trainCentralized, type CentralizedConfig, type CentralizedResult, type EpochMetrics } from './centralized-training.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';
import type { EvaluationPoint, RoundMetrics } from './simulation-result.ts';
import type { SimulationConfig } from './simulation-config.ts';
import type { SimulationHooks } from './federated-rounds.ts';
import type { ResearchReport } from './research-report.ts';
import { selectByValidation } from './select-by-validation.ts';
import { trainCentralizedSequence } from './sequence-simulation.ts';
import { machineInfo, researchSplit, resolveCandidates, type CandidatesInfo, type CandidatesOptions, type DataSource } from './simulation-data.ts';

const SPLIT =
  'per-user leave-one-out by time, ties broken by item id (the larger id is later): last interaction = test, ' +
  'second to last = validation, rest = train; validation metrics score the validation item from train; test metrics ' +
  'score the test item from config.testHistory (train+validation: the validation item is read, never trained on — ' +
  'MF folds it into the user vector first, as the browser does; train: neither model reads it); candidates: the fixed ' +
  'lists of config.candidates (negatives = items the person never interacted with; the same for every seed) and, for ' +
  'full ranking, every item the person never interacted with (the other held-out item is never a candidate); ' +
  '`selected` = the evaluation with the best validation NDCG@10 (sampled)';

function dataInfo(source: DataSource, dataset: Dataset, split: UserSplit): ResearchReport['data'] {
  return {
    source: source.kind === 'movielens' ? source.path : `synthetic ${source.users},${source.items},${source.seed}`,
    name: dataset.name,
    users: dataset.numUsers,
    items: dataset.numItems,
    trainInteractions: split.train.reduce((n, t) => n + t.length, 0),
    evaluatedUsers: Array.from(split.test).filter((t) => t >= 0).length,
    split: SPLIT,
  };
}

export interface FederatedExperimentOptions {
  readonly source: DataSource;
  readonly dataset: Dataset;
  readonly sim: SimulationConfig;
  /** Also train the centralized baseline for this many epochs (0 = skip) and popularity. */
  readonly centralizedEpochs: number;
  readonly onRound?: (m: RoundMetrics, e: EvaluationPoint | undefined) => void;
  /** Under DP (sim.dp): the resolved plan, before round 1. */
  readonly onDpPlan?: SimulationHooks['onDpPlan'];
  /** The evaluation candidates (default: the data set's own lists, in memory). */
  readonly candidates?: CandidatesOptions;
}

/** Popularity on the run's candidates (it reads no history: the test history does not change it). */
function popularity(dataset: Dataset, split: UserSplit, testHistory: TestHistory, candidates: EvaluationCandidates): EvaluationPoint {
  return evaluatePopularity(dataset, split, prepareEvaluation(split, dataset.numItems, { testHistory, candidates }));
}

export async function runFederatedExperiment(o: FederatedExperimentOptions): Promise<ResearchReport> {
  const t0 = performance.now();
  const split = researchSplit(o.dataset);
  const { candidates, info } = resolveCandidates(o.dataset, split, o.candidates);
  const result = await runInProcessSimulation(o.dataset, split, o.sim, { onRound: o.onRound, onDpPlan: o.onDpPlan }, candidates);
  const testHistory = o.sim.testHistory ?? 'train+validation';
  const baselines: ResearchReport['baselines'] = { popularity: popularity(o.dataset, split, testHistory, candidates) };
  if (o.centralizedEpochs > 0) {
    const cc = centralizedFrom(o.sim, o.centralizedEpochs);
    const c =
      cc.model === 'sasrec'
        ? await trainCentralizedSequence(o.dataset.numItems, split, cc, undefined, candidates)
        : trainCentralized(o.dataset, split, cc, undefined, candidates);
    baselines.centralized = { ...c.evaluations[c.evaluations.length - 1], epochs: o.centralizedEpochs };
  }
  const n = result.rounds.length;
  return {
    format: 'flock-research-report',
    formatVersion: 1,
    mode: 'federated-in-process',
    createdAt: new Date().toISOString(),
    data: dataInfo(o.source, o.dataset, split),
    config: { ...o.sim, testHistory, centralizedEpochs: o.centralizedEpochs, candidates: info },
    machine: machineInfo(),
    rounds: result.rounds.map((r) => ({ ...r })),
    evaluations: result.evaluations,
    final: result.evaluations[result.evaluations.length - 1],
    selected: selectByValidation(result.evaluations),
    baselines,
    ...(result.privacy ? { privacy: result.privacy } : {}),
    timing: {
      trainSeconds: result.trainSeconds,
      evalSeconds: result.evalSeconds,
      meanRoundSeconds: n > 0 ? result.trainSeconds / n : 0,
      clientUpdates: result.clientUpdates,
      clientUpdatesPerSecond: result.trainSeconds > 0 ? result.clientUpdates / result.trainSeconds : 0,
      totalSeconds: (performance.now() - t0) / 1000,
    },
  };
}

/** The centralized counterpart of a federated config: same model, local SGD settings and seed. */
export function centralizedFrom(sim: SimulationConfig, epochs: number): CentralizedConfig {
  const c: CentralizedConfig = {
    dim: sim.dim, seed: sim.seed, epochs, batchSize: sim.batchSize, learningRate: sim.learningRate, negatives: sim.negatives, l2: sim.l2, evalEvery: 0,
    ...(sim.testHistory ? { testHistory: sim.testHistory } : {}),
  };
  return sim.model === 'sasrec' ? { ...c, model: 'sasrec', sequence: sim.sequence } : c;
}

export interface CentralizedExperimentOptions {
  readonly source: DataSource;
  readonly dataset: Dataset;
  readonly cfg: CentralizedConfig;
  readonly onEpoch?: (m: EpochMetrics, e: EvaluationPoint | undefined) => void;
  /** The evaluation candidates (default: the data set's own lists, in memory). */
  readonly candidates?: CandidatesOptions;
}

export function runCentralizedExperiment(o: CentralizedExperimentOptions): ResearchReport {
  const t0 = performance.now();
  const split = researchSplit(o.dataset);
  const c = resolveCandidates(o.dataset, split, o.candidates);
  return centralizedReport(o, split, c, trainCentralized(o.dataset, split, o.cfg, o.onEpoch, c.candidates), t0);
}

/** `flock train --centralized --model sasrec`: the sequence model on the pooled data (tfjs, async). */
export async function runCentralizedSequenceExperiment(o: CentralizedExperimentOptions): Promise<ResearchReport> {
  const t0 = performance.now();
  const split = researchSplit(o.dataset);
  const c = resolveCandidates(o.dataset, split, o.candidates);
  return centralizedReport(o, split, c, await trainCentralizedSequence(o.dataset.numItems, split, o.cfg, o.onEpoch, c.candidates), t0);
}

function centralizedReport(
  o: CentralizedExperimentOptions,
  split: UserSplit,
  cand: { candidates: EvaluationCandidates; info: CandidatesInfo },
  c: CentralizedResult,
  t0: number,
): ResearchReport {
  const testHistory = o.cfg.testHistory ?? 'train+validation';
  const final = c.evaluations[c.evaluations.length - 1];
  const total = (performance.now() - t0) / 1000;
  return {
    format: 'flock-research-report',
    formatVersion: 1,
    mode: 'centralized',
    createdAt: new Date().toISOString(),
    data: dataInfo(o.source, o.dataset, split),
    config: { ...o.cfg, testHistory, candidates: cand.info },
    machine: machineInfo(),
    rounds: c.epochs.map((e) => ({ round: e.epoch, trainLoss: e.trainLoss, seconds: e.seconds })),
    evaluations: c.evaluations,
    final,
    selected: selectByValidation(c.evaluations),
    baselines: { popularity: popularity(o.dataset, split, testHistory, cand.candidates) },
    timing: { trainSeconds: c.trainSeconds, evalSeconds: total - c.trainSeconds, meanRoundSeconds: c.epochs.length ? c.trainSeconds / c.epochs.length : 0, totalSeconds: total },
  };
}
