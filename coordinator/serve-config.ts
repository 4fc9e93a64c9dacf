import { DEFAULT_COMBINE, DEFAULT_WEIGHTING, type CombineRule, type WeightingPolicy } from '../shared/aggregate/aggregation-settings.ts';
import type { ServerOptimizerConfig } from '../shared/aggregate/server-optimizer.ts';
import { FlockError } from '../shared/errors.ts';
import type { ModelDescriptor, ModelKind } from '../shared/model/model-registry.ts';
import type { RoundConfig } from '../shared/protocol/messages.ts';
import { DEFAULT_TRAIN_CONFIG } from '../shared/model/recommender-model.ts';
import type { RateSpec } from './http/rate-spec.ts';
import type { MessageRate } from './http/socket-guard.ts';

export type { ModelKind } from '../shared/model/model-registry.ts';

/** Shape of the sequence model when the coordinator serves `--model sasrec`. */
export interface SequenceModelSettings {
  readonly maxLen: number;
  readonly blocks: number;
  readonly heads: number;
  readonly dropout: number;
}

/** Everything `flock serve` can be told; defaults suit the built-in synthetic catalog. */
export interface ServeConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** MovieLens folder (100K or 1M layout); undefined = built-in synthetic catalog. */
  readonly dataPath?: string;
  readonly staticDir: string;
  /**
   * The models the coordinator federates, each with its own rounds, versions and
   * weights: 'mf' (embedding), 'sasrec' (sequence) or both. Every participant trains all.
   */
  readonly models: readonly ModelKind[];
  readonly sequence: SequenceModelSettings;
  readonly dim: number;
  readonly seed: number;
  /** Eligible clients that must be connected before a round opens. */
  readonly minClients: number;
  /** Fraction of eligible clients sampled per round. */
  readonly clientsPerRound: number;
  /** Lower bound on participants per round (capped by the eligible count). */
  readonly minPerRound: number;
  /**
   * Extra participants selected beyond the round's target, as a fraction of it (0.3 =
   * 30 % more): a round closes as soon as the target count of updates is in, so a few
   * silent or departing participants never hold it up.
   */
  readonly overselect: number;
  /** Fraction of the target a round needs to aggregate at its deadline (or when nobody is left to wait for). */
  readonly quorum: number;
  readonly roundTimeoutMs: number;
  /**
   * Once a round has its quorum, it waits for the rest at most this long, or as long as
   * the quorum took if that is longer; then the stragglers are dropped from the round.
   */
  readonly stragglerGraceMs: number;
  /** How the server weighs each accepted update (never the client's claim alone). */
  readonly weighting: WeightingPolicy;
  /** How a round's updates are combined: the mean, or a robust rule. */
  readonly combine: CombineRule;
  /** Pause between rounds so late joiners can be sampled. */
  readonly roundDelayMs: number;
  readonly serverLearningRate: number;
  /** The server step (shared/aggregate/server-optimizer.ts): sgd (FedAvg), momentum (FedAvgM) or adam (FedAdam). */
  readonly serverOptimizer: Omit<ServerOptimizerConfig, 'learningRate' | 'biasCorrection'>;
  /** Mean each embedding row over the clients that touched it (see shared/aggregate). */
  readonly rowNormalize: boolean;
  /** Stop opening rounds after this many (0 = no limit). */
  readonly maxRounds: number;
  /** What every round asks of its participants, for all models... */
  readonly round: Omit<RoundConfig, 'seed' | 'learningRate'>;
  /** ...except the local learning rate, which is per model (`--lr` sets them all). */
  readonly learningRate: Readonly<Record<ModelKind, number>>;

  // ---- identity, the edge, metrics (coordinator/identity, coordinator/http, coordinator/metrics) ----
  /** Web origins whose pages may open sockets, POST and read REST answers; undefined = the coordinator's own origin(s). */
  readonly allowedOrigins?: readonly string[];
  /** Lifetime of an issued participant credential, in seconds. */
  readonly credentialTtlSeconds: number;
  /** POST /api/credentials allowed per client address. */
  readonly credentialRate: RateSpec;
  /** Every other /api request allowed per client address. */
  readonly apiRate: RateSpec;
  /** When set, POST /api/credentials must carry `{ invite }` equal to it. */
  readonly inviteSecret?: string;
  /** Bearer token guarding /api/admin; undefined = the one in <dataDir>/operator-token (generated at first start). */
  readonly operatorToken?: string;
  /** socket.io heartbeat: a ping every interval; a connection that does not answer within the timeout is closed. */
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  /** Messages one socket connection may send per second, and at once. */
  readonly messageRate: MessageRate;
  /** Open socket connections per client address (0 = no cap). */
  readonly maxConnectionsPerAddress: number;
  /** Reverse proxies in front of the coordinator whose X-Forwarded-For is believed (0 = none). */
  readonly trustProxy: number;
}

/**
 * Local SGD learning rate when none is given: the sequence model diverges with plain
 * SGD at the embedding model's 0.5 (measured on the tiny config; 0.1–0.2 works).
 */
export const DEFAULT_LEARNING_RATE: Readonly<Record<ModelKind, number>> = { mf: DEFAULT_TRAIN_CONFIG.learningRate, sasrec: 0.1 };

export const DEFAULT_SERVE_CONFIG: ServeConfig = {
  host: '127.0.0.1',
  port: 8080,
  dataDir: 'flock-data',
  staticDir: 'dist',
  models: ['mf', 'sasrec'],
  sequence: { maxLen: 50, blocks: 2, heads: 1, dropout: 0.2 },
  dim: 16,
  seed: 1,
  minClients: 2,
  clientsPerRound: 1,
  minPerRound: 1,
  overselect: 0.3,
  quorum: 0.5,
  roundTimeoutMs: 60_000,
  stragglerGraceMs: 2_000,
  weighting: DEFAULT_WEIGHTING,
  combine: DEFAULT_COMBINE,
  roundDelayMs: 250,
  serverLearningRate: 1,
  serverOptimizer: { kind: 'sgd' },
  rowNormalize: true,
  maxRounds: 0,
  round: { localEpochs: DEFAULT_TRAIN_CONFIG.localEpochs, batchSize: DEFAULT_TRAIN_CONFIG.batchSize, negatives: DEFAULT_TRAIN_CONFIG.negatives, l2: DEFAULT_TRAIN_CONFIG.l2, clipNorm: 1 },
  learningRate: DEFAULT_LEARNING_RATE,

  // identity, the edge, metrics
  credentialTtlSeconds: 30 * 24 * 3600,
  credentialRate: { max: 30, windowMs: 10 * 60_000 },
  apiRate: { max: 1200, windowMs: 60_000 },
  heartbeatIntervalMs: 10_000,
  heartbeatTimeoutMs: 10_000,
  messageRate: { perSecond: 20, burst: 40 },
  maxConnectionsPerAddress: 256,
  trustProxy: 0,
};

/** The round settings one model's participants are sent (before the per-round seed). */
export function roundSettings(config: Pick<ServeConfig, 'round' | 'learningRate'>, kind: ModelKind): Omit<RoundConfig, 'seed'> {
  return { ...config.round, learningRate: config.learningRate[kind] };
}

/** Checks the model list: at least one, no repeats. */
export function checkModels(models: readonly ModelKind[]): readonly ModelKind[] {
  if (models.length === 0) throw new FlockError('bad-config', 'serve at least one model (--models mf, sasrec or mf,sasrec)');
  const repeated = models.find((m, i) => models.indexOf(m) !== i);
  if (repeated) throw new FlockError('bad-config', `model '${repeated}' is listed twice in --models`);
  return models;
}

/** The descriptor a coordinator announces for one of its models. */
export function modelDescriptor(config: Pick<ServeConfig, 'dim' | 'sequence'>, kind: ModelKind, numItems: number): ModelDescriptor {
  return kind === 'mf'
    ? { kind: 'mf', numItems, dim: config.dim }
    : { kind: 'sasrec', numItems, dim: config.dim, ...config.sequence };
}
