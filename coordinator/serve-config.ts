import type { ModelDescriptor } from '../shared/model/model-registry.ts';
import type { RoundConfig } from '../shared/protocol/messages.ts';
import { DEFAULT_TRAIN_CONFIG } from '../shared/model/recommender-model.ts';

export type ModelKind = ModelDescriptor['kind'];

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
  /** The model every participant trains: 'mf' (embedding) or 'sasrec' (sequence). */
  readonly model: ModelKind;
  readonly sequence: SequenceModelSettings;
  readonly dim: number;
  readonly seed: number;
  /** Eligible clients that must be connected before a round opens. */
  readonly minClients: number;
  /** Fraction of eligible clients sampled per round. */
  readonly clientsPerRound: number;
  /** Lower bound on participants per round (capped by the eligible count). */
  readonly minPerRound: number;
  /** Fraction of the sampled participants whose updates a round needs to aggregate. */
  readonly quorum: number;
  readonly roundTimeoutMs: number;
  /** Pause between rounds so late joiners can be sampled. */
  readonly roundDelayMs: number;
  readonly serverLearningRate: number;
  /** Mean each embedding row over the clients that touched it (see shared/aggregate). */
  readonly rowNormalize: boolean;
  /** Stop opening rounds after this many (0 = no limit). */
  readonly maxRounds: number;
  readonly round: Omit<RoundConfig, 'seed'>;
}

export const DEFAULT_SERVE_CONFIG: ServeConfig = {
  host: '127.0.0.1',
  port: 8080,
  dataDir: 'flock-data',
  staticDir: 'dist',
  model: 'mf',
  sequence: { maxLen: 50, blocks: 2, heads: 1, dropout: 0.2 },
  dim: 16,
  seed: 1,
  minClients: 2,
  clientsPerRound: 1,
  minPerRound: 1,
  quorum: 1,
  roundTimeoutMs: 60_000,
  roundDelayMs: 250,
  serverLearningRate: 1,
  rowNormalize: true,
  maxRounds: 0,
  round: { ...DEFAULT_TRAIN_CONFIG, clipNorm: 1 },
};

/**
 * Local SGD learning rate when none is given: the sequence model diverges with plain
 * SGD at the embedding model's 0.5 (measured on the tiny config; 0.1–0.2 works).
 */
export const DEFAULT_LEARNING_RATE: Record<ModelKind, number> = { mf: DEFAULT_TRAIN_CONFIG.learningRate, sasrec: 0.1 };

/** The descriptor a coordinator announces for its data set and settings. */
export function modelDescriptor(config: Pick<ServeConfig, 'model' | 'dim' | 'sequence'>, numItems: number): ModelDescriptor {
  return config.model === 'mf'
    ? { kind: 'mf', numItems, dim: config.dim }
    : { kind: 'sasrec', numItems, dim: config.dim, ...config.sequence };
}
