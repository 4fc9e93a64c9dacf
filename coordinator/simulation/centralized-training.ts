/**
 * `flock train --centralized`: the baseline every federated run is compared against.
 * The same MF model, objective, batches and SGD step as a federated client
 * (shared/train/mf-typed-array-training.ts, `mfSgdStep`), the same initial weights and
 * user vectors, the same split and metrics — but on pooled data: each epoch visits the
 * users in a fresh seeded order and applies every one of a user's batches directly to
 * the one global item table (no deltas, no clipping, no averaging).
 *
 * Also the popularity baseline: items ranked by training-set popularity for everyone.
 */
import type { Dataset, UserSplit } from '../../shared/data/interactions.ts';
import type { EvaluationCandidates } from '../../shared/eval/candidates.ts';
import { evaluateSplit, prepareEvaluation, type EvaluationSetup, type TestHistory } from '../../shared/eval/evaluate-split.ts';
import { popularityScores } from '../../shared/eval/popularity-baseline.ts';
import { createEmbeddingModel, type PairBatch } from '../../shared/model/embedding-model.ts';
import { initParams } from '../../shared/model/init-params.ts';
import type { RecommenderModel, TrainConfig } from '../../shared/model/recommender-model.ts';
import { deriveSeed, hashString, SeededRandom } from '../../shared/random/seeded-random.ts';
import { MfScratch, mfSgdStep, batchTouchedItems } from '../../shared/train/mf-typed-array-training.ts';
import { evaluateMf } from './evaluate-mf.ts';
import type { SequenceSettings } from './sequence-settings.ts';
import { fleetClientId } from './federated-rounds.ts';
import { toEvaluationPoint, type EvaluationPoint } from './simulation-result.ts';
import { isEvaluationRound } from './round-tally.ts';

export interface CentralizedConfig {
  readonly dim: number;
  readonly seed: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly negatives: number;
  readonly l2: number;
  /** Evaluate every k epochs (and after epoch 0 and the last); 0 = only start and end. */
  readonly evalEvery: number;
  /** 'mf' (default, trainCentralized) or 'sasrec' (trainCentralizedSequence in sequence-simulation.ts). */
  readonly model?: 'mf' | 'sasrec';
  /** sasrec only: maxLen, blocks, heads, dropout (dim is `dim`). */
  readonly sequence?: SequenceSettings;
  /** What the test item is scored from (shared/eval/evaluate-split.ts); default 'train+validation'. */
  readonly testHistory?: TestHistory;
  /**
   * sasrec only: 'sgd' (default; the clients' optimizer, learningRate per step) or 'adam'
   * (Kingma & Ba with bias correction, β1 0.9, β2 0.98, ε 1e-8 as SASRec's reference
   * code; learningRate is Adam's, e.g. 1e-3).
   */
  readonly optimizer?: 'sgd' | 'adam';
}

export interface EpochMetrics {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly seconds: number;
}

export interface CentralizedResult {
  readonly epochs: EpochMetrics[];
  readonly evaluations: EvaluationPoint[];
  readonly trainSeconds: number;
}

export function trainCentralized(
  dataset: Dataset,
  split: UserSplit,
  cfg: CentralizedConfig,
  onEpoch?: (m: EpochMetrics, e: EvaluationPoint | undefined) => void,
  /** The evaluation's candidate lists (default: the data set's own, shared/eval/candidates.ts). */
  candidates?: EvaluationCandidates,
): CentralizedResult {
  if (cfg.model === 'sasrec') throw new Error('trainCentralized is MF only; the sequence model trains with trainCentralizedSequence (async, tfjs)');
  const { dim } = cfg;
  const numItems = dataset.numItems;
  const model = createEmbeddingModel({ numItems, dim }) as RecommenderModel<PairBatch>;
  const globals = initParams(model.spec, 'global', cfg.seed);
  const items = globals.itemEmbedding;
  const bias = globals.itemBias;
  const numUsers = split.train.length;
  const users = new Float32Array(numUsers * dim);
  const userSeeds = Uint32Array.from({ length: numUsers }, (_, u) => hashString(fleetClientId(cfg.seed, u)));
  for (let u = 0; u < numUsers; u++) users.set(initParams(model.spec, 'local', userSeeds[u]).userEmbedding, u * dim);
  const train: TrainConfig = { localEpochs: 1, batchSize: cfg.batchSize, learningRate: cfg.learningRate, negatives: cfg.negatives, l2: cfg.l2 };
  const scratch = new MfScratch();
  scratch.ensure(dim, cfg.batchSize * (1 + cfg.negatives), numItems, numItems);
  const mark = new Uint8Array(numItems);
  const active = [...Array(numUsers).keys()].filter((u) => split.train[u].length > 0);
  const setup = prepareEvaluation(split, numItems, { testHistory: cfg.testHistory, candidates });
  const evaluate = () => evaluateMf(model, globals, users, dim, setup, (u) => userSeeds[u]);

  const evaluations: EvaluationPoint[] = [toEvaluationPoint(0, evaluate())];
  const epochs: EpochMetrics[] = [];
  let trainSeconds = 0;
  for (let e = 1; e <= cfg.epochs; e++) {
    const t0 = performance.now();
    const order = new SeededRandom(deriveSeed(cfg.seed, e, 2)).shuffle([...active]);
    let lossSum = 0;
    let batchesSeen = 0;
    for (const u of order) {
      const rng = new SeededRandom(deriveSeed(cfg.seed, e, u));
      const user = users.subarray(u * dim, u * dim + dim);
      for (const b of model.makeBatches(split.train[u], train, numItems, rng)) {
        const touched = batchTouchedItems(b.positives, b.negatives, mark);
        lossSum += mfSgdStep(items, bias, user, dim, b.positives, b.negatives, train, scratch, touched);
        batchesSeen++;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    trainSeconds += seconds;
    const m = { epoch: e, trainLoss: batchesSeen > 0 ? lossSum / batchesSeen : 0, seconds };
    epochs.push(m);
    const due = isEvaluationRound(e, cfg.epochs, cfg.evalEvery);
    const point = due ? toEvaluationPoint(e, evaluate()) : undefined;
    if (point) evaluations.push(point);
    onEpoch?.(m, point);
  }
  return { epochs, evaluations, trainSeconds };
}

/**
 * HR@10 / NDCG@10 of ranking by training-set popularity (same users, candidates and
 * protocol as the models: `setup`, default the data set's own candidates). Popularity
 * reads no history, so the test history does not change it.
 */
export function evaluatePopularity(dataset: Dataset, split: UserSplit, setup: EvaluationSetup = prepareEvaluation(split, dataset.numItems)): EvaluationPoint {
  const scores = popularityScores(split.train, dataset.numItems);
  return toEvaluationPoint(0, evaluateSplit({ setup, scoreAll: () => scores }));
}
