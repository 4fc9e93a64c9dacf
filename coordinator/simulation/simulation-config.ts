/**
 * What one research run (`flock simulate`, in-process) is asked to do: the model, the
 * clients' local training, the server step, the aggregation pipeline's stages, poisoning
 * and differential privacy. Read by the round loop (federated-rounds.ts) and both models'
 * simulations.
 */
import type { CombineRule, WeightingPolicy } from '../../shared/aggregate/aggregation-settings.ts';
import type { ServerOptimizerKind } from '../../shared/aggregate/server-optimizer.ts';
import type { AttackKind } from '../../shared/attack/poison-update.ts';
import type { TestHistory } from '../../shared/eval/evaluate-split.ts';
import type { RowEncoding } from '../../shared/update/tensor-codec.ts';
import type { UpdateEncoding } from '../../shared/update/update-encoding.ts';
import type { SimulationDp } from './dp-simulation.ts';
import type { SequenceSettings } from './sequence-settings.ts';

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
  /**
   * The wire path (issue 11): every honest client update goes through the participant's
   * encoding and the coordinator's decoding — rows laid out as `updateRows` (default
   * 'when-smaller', what participants send), values quantized to this encoding with a
   * seeded stochastic source, encodeUpdate → decodeUpdate → RoundAggregation.add — and
   * bytesUploaded counts the encoded bytes. Absent: updates are folded in memory (addDelta).
   */
  readonly updateEncoding?: UpdateEncoding;
  readonly updateRows?: RowEncoding;
  /**
   * Secure aggregation (secure-aggregation-rounds.ts): each round's updates are summed by
   * the shared/secagg protocol in-process and only the sum reaches the server step (with
   * DP, noised). Needs combine 'mean', weighting 'uniform', rowNormalize false, no
   * updateEncoding (the ring encoding is the wire) and no adaptive clipping.
   */
  readonly secureAggregation?: SimulationSecureAggregation;
}

export interface SimulationAttack {
  readonly kind: AttackKind;
  /** In [0, 1): fraction of the eligible clients that are attackers. */
  readonly fraction: number;
}

/** `flock simulate --secure-aggregation [--secagg-dropout f]` (secure-aggregation-rounds.ts runs it). */
export interface SimulationSecureAggregation {
  /**
   * In [0, 0.5): the fraction of each round's participants (a seeded subset) that vanish
   * after sending their masked input; also the dropout rate the neighbourhood size k is
   * chosen for (secagg-params.ts chooseNeighbours).
   */
  readonly dropoutFraction: number;
}
