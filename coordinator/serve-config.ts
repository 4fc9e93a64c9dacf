import { DEFAULT_COMBINE, DEFAULT_WEIGHTING, formatCombine, formatWeighting, type CombineRule, type WeightingPolicy } from '../shared/aggregate/aggregation-settings.ts';
import type { AdaptiveClipSettings } from '../shared/aggregate/adaptive-clipping.ts';
import { checkDpFedAvg } from '../shared/aggregate/dp-fedavg.ts';
import type { ServerOptimizerConfig } from '../shared/aggregate/server-optimizer.ts';
import { FlockError } from '../shared/errors.ts';
import type { ModelDescriptor, ModelKind } from '../shared/model/model-registry.ts';
import type { RoundConfig } from '../shared/protocol/messages.ts';
import { DEFAULT_TRAIN_CONFIG } from '../shared/model/recommender-model.ts';
import { planDp, type DpPlan } from '../shared/privacy/dp-plan.ts';
import type { RateSpec } from './http/rate-spec.ts';
import type { MessageRate } from './http/socket-guard.ts';
import { DEFAULT_UPDATE_ENCODINGS } from '../shared/update/update-encoding.ts';

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
  /** Pause before a round opens once one is due, so late joiners can be sampled. */
  readonly roundDelayMs: number;
  /**
   * At most one round per this many ms, counted from one round's opening to the next
   * (coordinator/rounds/round-pacing.ts). The default, 30 s, keeps an open tab from
   * uploading back to back (issue 10); tests and benchmarks shorten it.
   */
  readonly roundIntervalMs: number;
  readonly serverLearningRate: number;
  /** The server step (shared/aggregate/server-optimizer.ts): sgd (FedAvg), momentum (FedAvgM) or adam (FedAdam). */
  readonly serverOptimizer: Omit<ServerOptimizerConfig, 'learningRate' | 'biasCorrection'>;
  /** Mean each embedding row over the clients that touched it (see shared/aggregate). */
  readonly rowNormalize: boolean;
  /** Stop opening rounds after this many (0 = no limit). */
  readonly maxRounds: number;
  /**
   * Differential privacy (DP-FedAvg with Poisson sampling at rate `clientsPerRound`),
   * the same settings for every served model, each model with its own budget. Absent:
   * no DP. Build it with applyDp, which also sets the aggregation DP needs.
   */
  readonly dp?: ServeDpSettings;
  /**
   * Secure aggregation (coordinator/rounds/secure-round*.ts): the coordinator learns only
   * the sum of each round's updates. Absent: off. Build it with applySecureAggregation
   * (secure-round-settings.ts), which also sets the aggregation it needs.
   */
  readonly secureAggregation?: SecureAggregationSettings;
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
 * `flock serve --dp-noise z | --target-epsilon ε [--delta δ] [--dp-rounds R]
 * --dp-population N [--adaptive-clip [γ]]`: user-level differential privacy of every
 * published version (McMahan et al. 2018), one budget per model.
 */
export interface ServeDpSettings {
  /** z: exactly one of noiseMultiplier and targetEpsilon. */
  readonly noiseMultiplier?: number;
  readonly targetEpsilon?: number;
  /** Undefined: 1 / population^1.1 (shared/privacy/dp-plan.ts). */
  readonly delta?: number;
  /** The round budget: the plan is sized for it and no round beyond it opens. */
  readonly rounds: number;
  /**
   * The population the guarantee is stated for: everyone who may ever be sampled. With
   * the sampling rate it fixes the denominator m = q × population. No default: it is the
   * operator's statement about their deployment, and it sets the noise's scale.
   */
  readonly population: number;
  /** Adaptive clipping (Andrew et al. 2021) towards this quantile of the update norms. */
  readonly adaptiveClip?: { readonly targetQuantile: number };
}

/** `flock serve --secure-aggregation [--secagg-dropout f]`. */
export interface SecureAggregationSettings {
  /** The fraction of a round's participants expected to vanish mid-round (sizes the SecAgg+ neighbourhoods; [0, 0.5)). */
  readonly dropoutFraction: number;
}

export const DEFAULT_DP_ROUNDS = 100;
/** The default target quantile of `--adaptive-clip` without a value (the paper's median). */
export const DEFAULT_ADAPTIVE_CLIP_QUANTILE = 0.5;
/** Andrew et al. 2021's geometric learning rate η; σ_b = m / 20 (adaptive-clipping.ts). */
export const ADAPTIVE_CLIP_LEARNING_RATE = 0.2;

/** The resolved DP of a served model: the plan and, with adaptive clipping, its settings. */
export interface ServeDpPlan {
  readonly plan: DpPlan;
  readonly adaptiveClip?: AdaptiveClipSettings;
}

/**
 * Turns DP on in `config`: the aggregation DP-FedAvg's sensitivity argument needs
 * (shared/aggregate/dp-fedavg.ts) — the 'mean' combine, 'uniform' weighting, no row
 * normalisation — replacing the defaults, with a note for the log of each change. A
 * combine rule or weighting the user asked for explicitly (`explicit`) is refused
 * instead (FlockError 'bad-config' naming the flag): silently overriding a choice is
 * worse than stopping. Then the plan is worked out once, so every impossible setting
 * (ε unreachable, adaptive split impossible, bad numbers) fails before anything starts.
 */
export function applyDp(config: ServeConfig, dp: ServeDpSettings, explicit: { combine?: boolean; weighting?: boolean } = {}): { config: ServeConfig; notes: string[] } {
  const notes: string[] = [];
  if (config.combine.kind !== 'mean') {
    if (explicit.combine) {
      throw new FlockError('bad-config', `--combine ${formatCombine(config.combine)} cannot be used with differential privacy (--dp-noise / --target-epsilon): DP-FedAvg adds noise calibrated to a MEAN over a fixed cohort, and a robust rule has no sensitivity bound it could use. Leave --combine out (or pass --combine mean).`);
    }
    notes.push(`combine 'mean' instead of the default '${formatCombine(config.combine)}' (DP-FedAvg noises a sum over a fixed cohort; robust rules have no sensitivity bound)`);
  }
  if (config.weighting.kind !== 'uniform') {
    if (explicit.weighting) {
      throw new FlockError('bad-config', `--weighting ${formatWeighting(config.weighting)} cannot be used with differential privacy (--dp-noise / --target-epsilon): one person's update must weigh exactly 1 for the noise to cover it. Leave --weighting out (or pass --weighting uniform).`);
    }
    notes.push(`weighting 'uniform' instead of '${formatWeighting(config.weighting)}'`);
  }
  if (config.rowNormalize) notes.push('row normalisation off (per-row client counts depend on the data; every coordinate is averaged over the fixed cohort)');
  notes.push(`participants Poisson-sampled with probability q = --clients-per-round ${config.clientsPerRound} each (no over-selection; --overselect and --min-per-round do not apply)`);
  const out: ServeConfig = { ...config, dp, combine: { kind: 'mean' }, weighting: { kind: 'uniform' }, rowNormalize: false };
  planServeDp(out); // validates
  return { config: out, notes };
}

/**
 * The DP plan of every served model under `config.dp` (undefined without DP): Poisson
 * sampling at rate q = clientsPerRound of `population`, fixed denominator q × population.
 * Throws FlockError('bad-config') naming the flags for anything that cannot work.
 */
export function planServeDp(config: ServeConfig): ServeDpPlan | undefined {
  const dp = config.dp;
  if (!dp) return undefined;
  if (config.combine.kind !== 'mean' || config.weighting.kind !== 'uniform' || config.rowNormalize) {
    throw new FlockError('bad-config', `differential privacy needs --combine mean, --weighting uniform and row normalisation off (got ${formatCombine(config.combine)}, ${formatWeighting(config.weighting)}, row normalisation ${config.rowNormalize ? 'on' : 'off'}); applyDp sets them`);
  }
  if (!(Number.isInteger(dp.population) && dp.population >= 1)) {
    throw new FlockError('bad-config', `--dp-population must be a positive integer (the number of people the guarantee is stated for), got ${dp.population}`);
  }
  if (!(Number.isInteger(dp.rounds) && dp.rounds >= 1)) throw new FlockError('bad-config', `--dp-rounds must be a positive integer, got ${dp.rounds}`);
  if (dp.delta !== undefined && !(dp.delta > 0 && dp.delta < 1)) throw new FlockError('bad-config', `--delta must be in (0, 1), got ${dp.delta}`);
  const q = config.clientsPerRound;
  if (!(q > 0 && q <= 1)) throw new FlockError('bad-config', `--clients-per-round is the Poisson sampling rate under DP and must be in (0, 1], got ${q}`);
  const quantile = dp.adaptiveClip?.targetQuantile;
  if (quantile !== undefined && !(quantile > 0 && quantile < 1)) throw new FlockError('bad-config', `--adaptive-clip quantile must be in (0, 1), got ${quantile}`);
  let plan: DpPlan;
  try {
    plan = planDp({ noiseMultiplier: dp.noiseMultiplier, targetEpsilon: dp.targetEpsilon, delta: dp.delta, rounds: dp.rounds, samplingRate: q, population: dp.population });
  } catch (err) {
    if (!(err instanceof FlockError)) throw err;
    const asked = dp.targetEpsilon !== undefined ? `--target-epsilon ${dp.targetEpsilon}` : `--dp-noise ${dp.noiseMultiplier}`;
    throw new FlockError('bad-config', `${asked} with --dp-rounds ${dp.rounds}, --clients-per-round ${q} and --dp-population ${dp.population}: ${err.message}`);
  }
  const adaptiveClip: AdaptiveClipSettings | undefined = quantile === undefined ? undefined : { targetQuantile: quantile, learningRate: ADAPTIVE_CLIP_LEARNING_RATE };
  try {
    checkDpFedAvg(
      { combine: config.combine, weighting: config.weighting, rowNormalize: config.rowNormalize, clipNorm: config.round.clipNorm },
      { noiseMultiplier: plan.noiseMultiplier, expectedCohort: plan.expectedCohort, adaptiveClip },
    );
  } catch (err) {
    if (!(err instanceof FlockError)) throw err;
    if (!adaptiveClip) throw err;
    throw new FlockError('bad-config', `--adaptive-clip with ${dp.targetEpsilon !== undefined ? `--target-epsilon ${dp.targetEpsilon} (z = ${plan.noiseMultiplier.toFixed(4)})` : `--dp-noise ${plan.noiseMultiplier}`} and a cohort of ${plan.expectedCohort} (--clients-per-round × --dp-population): ${err.message}`);
  }
  return { plan, ...(adaptiveClip ? { adaptiveClip } : {}) };
}

/**
 * Local SGD learning rate when none is given: the sequence model diverges with plain
 * SGD at the embedding model's 0.5 (measured on the tiny config; 0.1–0.2 works).
 */
export const DEFAULT_LEARNING_RATE: Readonly<Record<ModelKind, number>> = { mf: DEFAULT_TRAIN_CONFIG.learningRate, sasrec: 0.1 };

/** Rounds of one model open at most this often by default (see ServeConfig.roundIntervalMs). */
export const DEFAULT_ROUND_INTERVAL_MS = 30_000;

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
  roundIntervalMs: DEFAULT_ROUND_INTERVAL_MS,
  serverLearningRate: 1,
  serverOptimizer: { kind: 'sgd' },
  rowNormalize: true,
  maxRounds: 0,
  round: { localEpochs: DEFAULT_TRAIN_CONFIG.localEpochs, batchSize: DEFAULT_TRAIN_CONFIG.batchSize, negatives: DEFAULT_TRAIN_CONFIG.negatives, l2: DEFAULT_TRAIN_CONFIG.l2, clipNorm: 1, updateEncodings: [...DEFAULT_UPDATE_ENCODINGS] },
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
