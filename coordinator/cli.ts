import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import path from 'node:path';
import pino from 'pino';
import { FlockError } from '../shared/errors.ts';
import { defaultMovieLensDir } from './data/load-movielens.ts';
import { runSocketFleet } from './fleet/socket-fleet.ts';
import { useNodeBackend } from './runtime/node-tf-backend.ts';
import type { CentralizedConfig, EpochMetrics } from './simulation/centralized-training.ts';
import { runCentralizedExperiment, runCentralizedSequenceExperiment, runFederatedExperiment } from './simulation/experiments.ts';
import type { EvaluationPoint } from './simulation/simulation-result.ts';
import type { SimulationConfig } from './simulation/simulation-config.ts';
import { DEFAULT_SERVER_BETA2, DEFAULT_SERVER_EPSILON, DEFAULT_SERVER_MOMENTUM, parseServerOptimizerKind, type ServerOptimizerKind } from '../shared/aggregate/server-optimizer.ts';
import { parseTestHistory, type TestHistory } from '../shared/eval/evaluate-split.ts';
import { DEFAULT_COMBINE, DEFAULT_WEIGHTING, describeAggregation, formatCombine, formatWeighting, parseCombine, parseWeighting } from '../shared/aggregate/aggregation-settings.ts';
import { parseAttackKind } from '../shared/attack/poison-update.ts';
import type { SequenceSettings } from './simulation/sequence-settings.ts';
import { writeResearchOutputs, type ResearchReport } from './simulation/research-report.ts';
import { loadSource, parseSyntheticSpec, type CandidatesOptions, type DataSource } from './simulation/simulation-data.ts';
import { parseNcfIdMapping, type NcfIdMapping } from '../shared/data/ncf-candidates.ts';
import { DEFAULT_CATALOG } from '../shared/data/synthetic-dataset.ts';
import { parseModelKind } from '../shared/model/model-registry.ts';
import { ADAPTIVE_CLIP_LEARNING_RATE, applyDp, checkModels, DEFAULT_ADAPTIVE_CLIP_QUANTILE, DEFAULT_DP_ROUNDS, DEFAULT_LEARNING_RATE, DEFAULT_SERVE_CONFIG as D, type ModelKind, type ServeConfig, type ServeDpSettings } from './serve-config.ts';
import { startCoordinator } from './server.ts';
import { applySecureAggregation, DEFAULT_SECAGG_DROPOUT } from './rounds/secure-round-settings.ts';
import { secureAggregationSettings } from '../shared/aggregate/secure-aggregation-settings.ts';
import { edgeServeConfig, edgeServeOptions } from './http/edge-flags.ts';
import { registerKeysCommand } from './identity/keys-command.ts';
import { registerCatalogCommand } from './catalog/catalog-command.ts';
import { DEFAULT_CATALOG_SETTINGS, parseOnOff, SERVE_ITEM_FEATURES } from './catalog/catalog-descriptor.ts';
import { registerAttackCommand } from './simulation/membership-attack-command.ts';
import { simulateReplay } from './simulation/replay-command.ts';
import type { SimulationDp } from './simulation/dp-simulation.ts';
import { describeDpPlan } from '../shared/privacy/dp-plan.ts';
import { DEFAULT_ADAPTIVE_CLIP, type AdaptiveClipSettings } from '../shared/aggregate/adaptive-clipping.ts';
import { parseUpdateEncodings, UPDATE_ENCODINGS } from '../shared/update/update-encoding.ts';
import type { CombineRule, WeightingPolicy } from '../shared/aggregate/aggregation-settings.ts';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};
const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};
const nonNegative = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative number`);
  return n;
};
const fraction = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError(`${name} must be in (0, 1]`);
  return n;
};

function modelKind(v: string): ModelKind {
  if (v !== 'mf' && v !== 'sasrec') throw new InvalidArgumentError(`--model must be mf or sasrec, got "${v}"`);
  return v;
}

/** `--models mf,sasrec`: known kinds, at least one, none twice. */
function modelList(v: string): ModelKind[] {
  const kinds = v.split(',').map((k) => k.trim()).filter((k) => k.length > 0);
  try {
    return [...checkModels(kinds.map(parseModelKind))];
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

/** `--server-optimizer sgd|momentum|adam`, or a usage error. */
function cliServerOptimizer(v: string): ServerOptimizerKind {
  try {
    return parseServerOptimizerKind(v);
  } catch (err) {
    throw new InvalidArgumentError(`--server-optimizer: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** `--data ml-100k` is a shorthand for ../shared/data/ml-100k. */
function resolveData(data: string | undefined): string | undefined {
  if (data === undefined) return undefined;
  if (data === 'ml-100k') {
    const dir = defaultMovieLensDir();
    if (!dir) throw new FlockError('not-found', 'MovieLens 100K not found at ../shared/data/ml-100k; pass its folder with --data PATH');
    return dir;
  }
  return path.resolve(data);
}

/** --max-len, --blocks, --heads, --dropout: the sequence model's shape, the same flags in every command. */
function sequenceShapeOptions(cmd: Command, scope: string): Command {
  return cmd
    .option('--max-len <n>', `${scope}: longest sequence (training window) a participant trains on`, int('--max-len'), D.sequence.maxLen)
    .option('--blocks <n>', `${scope}: self-attention blocks`, int('--blocks'), D.sequence.blocks)
    .option('--heads <n>', `${scope}: attention heads (must divide --dim)`, int('--heads'), D.sequence.heads)
    .option('--dropout <p>', `${scope}: dropout rate in [0, 1)`, Number, D.sequence.dropout);
}

const program = new Command('flock').description('Federated recommendation training across browsers');

edgeServeOptions(sequenceShapeOptions(program
  .command('serve')
  .description('run the coordinator: web app, REST API and federated rounds')
  .option('--host <host>', 'address to listen on', D.host)
  .option('--port <port>', 'port (0 = any free port)', int('--port'), D.port)
  .option('--data-dir <dir>', 'where versions, manifest and round log are written', D.dataDir)
  .option('--data <path>', 'MovieLens folder (100K or 1M layout) or "ml-100k"; default: built-in synthetic catalog')
  .option('--static <dir>', 'built web app to serve', D.staticDir)
  .option('--models <list>', 'models the coordinator federates, each with its own rounds and versions: mf (embedding), sasrec (sequence) or mf,sasrec', modelList, D.models), 'sasrec')
  .option('--dim <n>', 'embedding dimension', int('--dim'), D.dim)
  .option('--seed <n>', 'seed for initial weights and participant sampling', int('--seed'), D.seed)
  .option('--min-clients <n>', 'eligible clients needed before a round opens', int('--min-clients'), D.minClients)
  .option('--clients-per-round <f>', 'fraction of eligible clients sampled per round', fraction('--clients-per-round'), D.clientsPerRound)
  .option('--min-per-round <n>', 'minimum participants per round', int('--min-per-round'), D.minPerRound)
  .option('--overselect <f>', 'select this fraction more participants than a round\'s target; the round closes as soon as the target is in', nonNegative('--overselect'), D.overselect)
  .option('--quorum <f>', 'fraction of the target a round needs to aggregate at its deadline or when nobody is left to wait for', fraction('--quorum'), D.quorum)
  .option('--round-timeout <ms>', 'round deadline', int('--round-timeout'), D.roundTimeoutMs)
  .option('--straggler-grace <ms>', 'once a round has its quorum, wait this long (or as long as the quorum took) for the rest, then drop them', int('--straggler-grace'), D.stragglerGraceMs)
  .option('--weighting <policy>', `weight of each accepted update, decided by the server: uniform or examples-capped:K (default ${formatWeighting(D.weighting)})`, cliAggregation('--weighting', parseWeighting), D.weighting)
  .option('--combine <rule>', `how a round's updates are combined: mean, trimmed-mean:β, median or centered-clipping[:τ[:L]] (default ${formatCombine(D.combine)})`, cliAggregation('--combine', parseCombine), D.combine)
  .option('--round-delay <ms>', 'pause before opening a round', int('--round-delay'), D.roundDelayMs)
  .option('--round-interval <ms>', 'at most one round of a model per this many ms, opening to opening; rounds open only when a participant has something new to learn from', int('--round-interval'), D.roundIntervalMs)
  .option('--max-rounds <n>', 'stop opening rounds after this many (0 = never)', int('--max-rounds'), D.maxRounds)
  .option('--local-epochs <n>', 'local epochs per round', int('--local-epochs'), D.round.localEpochs)
  .option('--batch-size <n>', 'local batch size', int('--batch-size'), D.round.batchSize)
  .option('--lr <x>', 'local SGD learning rate of every served model (default: 0.5 for mf, 0.1 for sasrec)', positive('--lr'))
  .option('--negatives <n>', 'sampled negatives per positive', int('--negatives'), D.round.negatives)
  .option('--clip <c>', 'L2 bound C on every update', positive('--clip'), D.round.clipNorm)
  .option('--item-features <on|off>', 'the MF model\'s item feature tower: items scored from their features (genres, tags) before anyone interacted with them (README "A growing catalog")', SERVE_ITEM_FEATURES ? 'on' : 'off')
  .option('--feature-buckets <n>', 'hash buckets of the feature tower', int('--feature-buckets'), DEFAULT_CATALOG_SETTINGS.featureBuckets)
  .option('--update-encodings <list>', `update encodings every round accepts, any of ${UPDATE_ENCODINGS.join(',')}: participants send the smallest they support (f16 round to nearest, int8 per-row scales with stochastic rounding; README "Compressed updates")`, cliAggregation('--update-encodings', parseUpdateEncodings), D.round.updateEncodings)
  .option('--accumulation-steps <k>', 'micro-batches averaged into one local SGD step (gradient accumulation)', int('--accumulation-steps'), 1)
  .option('--server-lr <x>', 'server learning rate applied to the mean update', positive('--server-lr'), D.serverLearningRate)
  .option('--server-optimizer <kind>', 'server step: sgd (FedAvg with --server-lr), momentum (FedAvgM) or adam (FedAdam); its state is checkpointed with each version', D.serverOptimizer.kind)
  .option('--server-momentum <b>', 'momentum β / adam β1 in [0, 1)', Number, DEFAULT_SERVER_MOMENTUM)
  .option('--server-beta2 <b>', 'adam β2 in [0, 1)', Number, DEFAULT_SERVER_BETA2)
  .option('--server-epsilon <t>', 'adam adaptivity τ', positive('--server-epsilon'), DEFAULT_SERVER_EPSILON)
  .option('--no-row-normalize', 'plain example-weighted FedAvg for embedding rows')
  .option('--dp-noise <z>', 'differential privacy (DP-FedAvg) of every served model with noise multiplier z: Poisson sampling at q = --clients-per-round, noise over the fixed cohort q × --dp-population, combine mean, no row normalisation; training stops when the budget is spent', positive('--dp-noise'))
  .option('--target-epsilon <eps>', 'differential privacy sized so that --dp-rounds rounds spend at most ε (z from the RDP accountant); instead of --dp-noise', positive('--target-epsilon'))
  .option('--delta <d>', 'with DP: δ of the (ε, δ) guarantee (default 1 / population^1.1)', Number)
  .option('--dp-rounds <n>', `with DP: round budget of each model, never exceeded (default ${DEFAULT_DP_ROUNDS})`, int('--dp-rounds'))
  .option('--dp-population <n>', 'with DP (required): how many people may ever take part; the guarantee is stated for them and the fixed denominator is q × this', int('--dp-population'))
  .option('--adaptive-clip [quantile]', `with DP: the clip bound tracks this quantile of the update norms (Andrew et al. 2021; default ${DEFAULT_ADAPTIVE_CLIP_QUANTILE}, η ${ADAPTIVE_CLIP_LEARNING_RATE}, σ_b = m/20); --clip is the initial bound`))
  .option('--secure-aggregation', 'secure aggregation (Bonawitz et al. 2017 with the SecAgg+ graph): the coordinator learns only the sum of each round\'s clipped updates; implies --combine mean, uniform weighting and no row normalisation (other explicit choices are refused)')
  .option('--secagg-dropout <f>', `with --secure-aggregation: fraction of a round's participants expected to vanish mid-round, in [0, 0.5) (default ${DEFAULT_SECAGG_DROPOUT.toFixed(3)}); sizes the neighbourhoods`, Number)
  .action(async (o, cmd: Command) => {
    const log = pino({ base: undefined });
    let config: ServeConfig = {
      ...D,
      host: o.host,
      port: o.port,
      dataDir: path.resolve(o.dataDir),
      dataPath: resolveData(o.data),
      staticDir: o.static,
      models: o.models,
      sequence: { maxLen: o.maxLen, blocks: o.blocks, heads: o.heads, dropout: o.dropout },
      dim: o.dim,
      seed: o.seed,
      minClients: o.minClients,
      clientsPerRound: o.clientsPerRound,
      minPerRound: o.minPerRound,
      overselect: o.overselect,
      quorum: o.quorum,
      roundTimeoutMs: o.roundTimeout,
      stragglerGraceMs: o.stragglerGrace,
      weighting: o.weighting,
      combine: o.combine,
      roundDelayMs: o.roundDelay,
      roundIntervalMs: o.roundInterval,
      maxRounds: o.maxRounds,
      serverLearningRate: o.serverLr,
      serverOptimizer: { kind: cliServerOptimizer(o.serverOptimizer), momentum: o.serverMomentum, beta2: o.serverBeta2, epsilon: o.serverEpsilon },
      rowNormalize: o.rowNormalize,
      round: { ...D.round, localEpochs: o.localEpochs, batchSize: o.batchSize, negatives: o.negatives, clipNorm: o.clip, accumulationSteps: Math.max(1, o.accumulationSteps), updateEncodings: o.updateEncodings },
      learningRate: o.lr === undefined ? DEFAULT_LEARNING_RATE : { mf: o.lr, sasrec: o.lr },
      ...edgeServeConfig(o),
    };
    if (o.secureAggregation) {
      const given = (flag: string) => cmd.getOptionValueSource(flag) === 'cli';
      const applied = applySecureAggregation(config, { dropoutFraction: o.secaggDropout ?? DEFAULT_SECAGG_DROPOUT }, { combine: given('combine'), weighting: given('weighting') });
      config = applied.config;
      if (applied.notes.length > 0) log.info({ notes: applied.notes }, `secure aggregation: ${applied.notes.join('; ')}`);
    } else if (o.secaggDropout !== undefined) throw new InvalidArgumentError('--secagg-dropout only means something with --secure-aggregation');
    const dp = serveDp(o);
    if (dp) {
      const explicit = (flag: string) => cmd.getOptionValueSource(flag) === 'cli';
      const applied = applyDp(config, dp, { combine: explicit('combine'), weighting: explicit('weighting') });
      config = applied.config;
      if (applied.notes.length > 0) log.info({ notes: applied.notes }, `differential privacy: ${applied.notes.join('; ')}`);
    }
    const running = await startCoordinator(config, log, { itemFeatures: parseOnOff('--item-features', o.itemFeatures), featureBuckets: o.featureBuckets });
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down');
      void running.close().then(() => process.exit(0));
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });

/** `flock serve`'s DP flags, or undefined without --dp-noise / --target-epsilon (then none of them may be given). */
function serveDp(o: Record<string, any>): ServeDpSettings | undefined {
  const on = o.dpNoise !== undefined || o.targetEpsilon !== undefined;
  if (!on) {
    const stray = (['delta', 'dpRounds', 'dpPopulation', 'adaptiveClip'] as const).filter((k) => o[k] !== undefined);
    if (stray.length > 0) throw new InvalidArgumentError(`${stray.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} only mean something with differential privacy: add --dp-noise z or --target-epsilon ε`);
    return undefined;
  }
  if (o.dpNoise !== undefined && o.targetEpsilon !== undefined) throw new InvalidArgumentError('pass either --dp-noise z or --target-epsilon ε, not both');
  if (o.dpPopulation === undefined || o.dpPopulation < 1) {
    throw new InvalidArgumentError('differential privacy needs --dp-population N: how many people may ever take part. The guarantee is stated for them, and the noise is scaled to the fixed cohort --clients-per-round × N (e.g. --clients-per-round 0.01 --dp-population 100000)');
  }
  if (o.delta !== undefined && !(o.delta > 0 && o.delta < 1)) throw new InvalidArgumentError(`--delta must be in (0, 1), got ${o.delta}`);
  let adaptiveClip: ServeDpSettings['adaptiveClip'];
  if (o.adaptiveClip !== undefined) {
    const quantile = o.adaptiveClip === true ? DEFAULT_ADAPTIVE_CLIP_QUANTILE : Number(o.adaptiveClip);
    if (!(quantile > 0 && quantile < 1)) throw new InvalidArgumentError(`--adaptive-clip quantile must be in (0, 1), got ${o.adaptiveClip}`);
    adaptiveClip = { targetQuantile: quantile };
  }
  return {
    ...(o.dpNoise !== undefined ? { noiseMultiplier: o.dpNoise } : { targetEpsilon: o.targetEpsilon }),
    ...(o.delta !== undefined ? { delta: o.delta } : {}),
    rounds: o.dpRounds ?? DEFAULT_DP_ROUNDS,
    population: o.dpPopulation,
    ...(adaptiveClip ? { adaptiveClip } : {}),
  };
}

registerKeysCommand(program, D.dataDir);
registerCatalogCommand(program, D.dataDir);
registerAttackCommand(program);

sequenceShapeOptions(program
  .command('simulate')
  .description('simulate a fleet: in-process (default, no sockets, every user a client) or, with --url, Node participants over socket.io')
  .option('--url <url>', 'coordinator URL, e.g. http://127.0.0.1:8080: run the socket fleet against it instead of in-process')
  .option('--clients <n>', 'socket mode: number of participants', int('--clients'), 50)
  .option('--rounds <n>', 'rounds to run (socket mode: stop after the global version advanced this many times)', int('--rounds'), 20)
  .option('--data <path>', 'MovieLens folder (100K or 1M layout) or "ml-100k"; default: built-in synthetic catalog')
  .option('--synthetic <spec>', 'in-process: built-in generator with USERS,ITEMS[,SEED] instead of --data')
  .option('--seed <n>', 'seed for weights, sampling and training (not the evaluation candidates: those are fixed per data set)', int('--seed'), 1)
  .option('--backend <name>', 'TensorFlow.js backend in Node: wasm or cpu (socket mode, or --trainer tfjs)', 'wasm')
  .option('--json <file>', 'socket mode: also write the report as JSON')
  .option('--clients-per-round <x>', 'in-process: fraction (≤ 1) or count (> 1) of clients per round', positive('--clients-per-round'), 1)
  .option('--local-epochs <n>', 'in-process: local epochs per round', int('--local-epochs'), D.round.localEpochs)
  .option('--batch-size <n>', 'in-process: local batch size', int('--batch-size'), D.round.batchSize)
  .option('--lr <x>', 'in-process: local SGD learning rate (default: 0.5 for mf, 0.1 for sasrec)', positive('--lr'))
  .option('--model <kind>', 'mf (embedding, default) or sasrec (sequence model, trained with tfjs on --backend)', 'mf'), 'in-process, sasrec')
  .option('--l2 <x>', 'in-process: L2 regularisation', Number, D.round.l2)
  .option('--negatives <n>', 'in-process: sampled negatives per positive', int('--negatives'), D.round.negatives)
  .option('--clip <c>', 'in-process: L2 bound C on every update', positive('--clip'), D.round.clipNorm)
  .option('--server-lr <x>', 'in-process: server learning rate', positive('--server-lr'), D.serverLearningRate)
  .option('--server-optimizer <kind>', 'in-process: server step: sgd (FedAvg with --server-lr), momentum (FedAvgM) or adam (FedAdam)', 'sgd')
  .option('--server-momentum <b>', 'in-process: momentum β / adam β1 in [0, 1)', Number, DEFAULT_SERVER_MOMENTUM)
  .option('--server-beta2 <b>', 'in-process: adam β2 in [0, 1)', Number, DEFAULT_SERVER_BETA2)
  .option('--server-epsilon <t>', 'in-process: adam adaptivity τ', positive('--server-epsilon'), DEFAULT_SERVER_EPSILON)
  .option('--test-history <h>', 'in-process: what the test item is scored from: train+validation (SASRec protocol) or train', 'train+validation')
  .option('--candidates <file>', 'in-process: evaluation candidates: a Flock candidates.json or an NCF test.negative file (e.g. ml-1m.test.negative); default: <out>/candidates.json, written once per data set and reused')
  .option('--candidate-ids <ids>', 'ids of an NCF --candidates file: ncf (numbered in order of first appearance in the ratings file, as the NCF data; default) or dense (Flock ids: sorted raw ids, 0-based)')
  .option('--no-row-normalize', 'in-process: plain example-weighted FedAvg for embedding rows')
  .option('--weighting <policy>', `in-process: weight of an update: uniform or examples-capped:K (default ${formatWeighting(DEFAULT_WEIGHTING)})`, cliAggregation('--weighting', parseWeighting))
  .option('--combine <rule>', `in-process: combine rule: mean, trimmed-mean:β, median or centered-clipping[:τ[:L]] (default ${formatCombine(DEFAULT_COMBINE)})`, cliAggregation('--combine', parseCombine))
  .option('--dp-noise <z>', 'in-process: user-level differential privacy (DP-FedAvg) with noise multiplier z: Poisson sampling at q = --clients-per-round, noise over the fixed cohort q × clients, the RDP accountant charging every round', positive('--dp-noise'))
  .option('--target-epsilon <eps>', 'in-process: differential privacy sized to spend at most ε over --rounds rounds (z from the accountant)', positive('--target-epsilon'))
  .option('--delta <d>', 'with --dp-noise / --target-epsilon: δ of the (ε, δ) guarantee (default 1 / clients^1.1)', Number)
  .option('--adaptive-clip [quantile]', 'with DP: the clip bound tracks this quantile of the update norms (Andrew et al. 2021; default 0.5); --clip is the initial bound')
  .option('--attack <kind>', 'poisoning experiment (in-process, or the socket fleet with --url), with --attackers: reverse (−C·Δ/‖Δ‖), noise (Gaussian of norm C) or scale (C·Δ/‖Δ‖); attackers claim 10⁷ examples', cliAggregation('--attack', parseAttackKind))
  .option('--attackers <fraction>', 'fraction of the clients (a fixed seeded subset) that attack, in [0, 1)', Number)
  .option('--dim <n>', 'in-process: embedding dimension', int('--dim'), D.dim)
  .option('--eval-every <k>', 'in-process: evaluate every k rounds (0 = start and end only)', int('--eval-every'), 1)
  .option('--update-encoding <e>', `in-process: send every honest update through the wire path (encode → decode → validate) in this encoding: ${UPDATE_ENCODINGS.join(', ')}; bytes counted from the encoded messages`, cliAggregation('--update-encoding', (v) => parseUpdateEncodings(v)[0]))
  .option('--update-rows <layout>', 'in-process, with --update-encoding: embedding rows on the wire as dense, row-sparse or when-smaller (default, what participants send)', 'when-smaller')
  .option('--secure-aggregation', 'in-process: every round\'s updates summed by the secure aggregation protocol (shared/secagg/, the code browsers run); combine mean, uniform weights, no row normalisation; DP noise, if any, on the unmasked sum')
  .option('--secagg-dropout <f>', 'in-process, with --secure-aggregation: fraction of each round\'s participants that vanish after sending their masked input, in [0, 0.5) (default 0); also sizes the neighbourhoods', Number)
  .option('--workers <n>', 'in-process: worker_threads training clients in parallel (same results for any count)', int('--workers'), 1)
  .option('--batch-clients <n>', 'in-process, sasrec: clients trained together, one batched tfjs forward/backward per local step (the same updates; default 128; 1 = one tfjs run per client)', int('--batch-clients'))
  .option('--trainer <name>', 'in-process: typed-array (fast) or tfjs (trainLocally + buildUpdate, slow)', 'typed-array')
  .option('--centralized-epochs <n>', 'in-process: also train the centralized baseline for the plot (0 = skip)', int('--centralized-epochs'), 20)
  .option('--replay', 'in-process, MF: play the data set in timestamp order, one day per step; prequential next-day HR@10/NDCG@10 of a frozen model trained on the first half (--centralized-epochs epochs), the federated model updated online and a centralized model retrained daily (writes replay.csv, replay.svg, table.md to --out, default reports/replay)')
  .option('--rounds-per-day <n>', 'with --replay: federated rounds per simulated day among the people active that day', int('--rounds-per-day'), 1)
  .option('--item-features <on|federated|off>', 'with --replay: also run the federated and centralized daily arms with the item feature tower (federated: only the federated one), beside the plain arms')
  .option('--out <dir>', 'in-process: folder for report.json, rounds.csv, hr-ndcg.svg', 'reports/simulate')
  .action(async (o) => {
    if (o.backend !== 'wasm' && o.backend !== 'cpu') throw new InvalidArgumentError('--backend must be wasm or cpu');
    if (o.replay) {
      await simulateReplay(dataSource(o), o);
      return;
    }
    if (o.itemFeatures !== undefined) throw new InvalidArgumentError('--item-features is for --replay (flock serve has its own)');
    if (!o.url) {
      await simulateInProcess(o);
      return;
    }
    for (const flag of ['weighting', 'combine']) {
      if (o[flag] !== undefined) throw new InvalidArgumentError(`--${flag} is for the in-process simulation; the coordinator's aggregation is set by \`flock serve\``);
    }
    if (simulationDpFlagsGiven(o)) throw new InvalidArgumentError('--dp-noise, --target-epsilon, --delta and --adaptive-clip are for the in-process simulation; a coordinator\'s privacy is set by `flock serve`');
    if (o.secureAggregation || o.secaggDropout !== undefined) throw new InvalidArgumentError('--secure-aggregation and --secagg-dropout are for the in-process simulation; a coordinator\'s is set by `flock serve --secure-aggregation`');
    if (o.candidates !== undefined || o.candidateIds !== undefined) throw new InvalidArgumentError('--candidates and --candidate-ids are for the in-process simulation');
    const t0 = Date.now();
    const report = await runSocketFleet({
      url: o.url.replace(/\/$/, ''),
      model: modelKind(o.model),
      clients: o.clients,
      rounds: o.rounds,
      dataPath: resolveData(o.data),
      seed: o.seed,
      backend: o.backend,
      ...simulationAttack(o),
      log: (line) => console.log(line),
    });
    const first = report.history[0];
    const last = report.history[report.history.length - 1];
    console.log(
      `done: ${report.clients} clients, versions ${report.startVersion} → ${report.endVersion} in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
        `HR@10 ${first.hr10.toFixed(4)} → ${last.hr10.toFixed(4)}, NDCG@10 ${first.ndcg10.toFixed(4)} → ${last.ndcg10.toFixed(4)}; ` +
        `${(report.bytesSent / 1e6).toFixed(1)} MB uploaded, ${report.rejections} rejections`,
    );
    if (o.json) {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(o.json, JSON.stringify(report, null, 2));
    }
    process.exit(0);
  });

sequenceShapeOptions(program
  .command('train')
  .description('train without federation: --centralized MF or SASRec (--model sasrec) on the pooled data, plus the popularity baseline')
  .option('--centralized', 'centralized training on the pooled data (the only mode)')
  .option('--data <path>', 'MovieLens folder (100K or 1M layout) or "ml-100k"; default: built-in synthetic catalog')
  .option('--synthetic <spec>', 'built-in generator with USERS,ITEMS[,SEED] instead of --data')
  .option('--seed <n>', 'seed for weights and batches (not the evaluation candidates: those are fixed per data set)', int('--seed'), 1)
  .option('--epochs <n>', 'passes over the pooled training data', int('--epochs'), 20)
  .option('--batch-size <n>', 'batch size (positives of one user per batch)', int('--batch-size'), D.round.batchSize)
  .option('--lr <x>', 'SGD learning rate (default: 0.5 for mf, 0.1 for sasrec)', positive('--lr'))
  .option('--backend <name>', 'sasrec: TensorFlow.js backend in Node (wasm or cpu)', 'wasm')
  .option('--model <kind>', 'mf (embedding, default) or sasrec (sequence model, trained with tfjs on --backend)', 'mf'), 'sasrec')
  .option('--l2 <x>', 'L2 regularisation', Number, D.round.l2)
  .option('--negatives <n>', 'sampled negatives per positive', int('--negatives'), D.round.negatives)
  .option('--dim <n>', 'embedding dimension', int('--dim'), D.dim)
  .option('--eval-every <k>', 'evaluate every k epochs (0 = start and end only)', int('--eval-every'), 1)
  .option('--test-history <h>', 'what the test item is scored from: train+validation (SASRec protocol) or train', 'train+validation')
  .option('--candidates <file>', 'evaluation candidates: a Flock candidates.json or an NCF test.negative file (e.g. ml-1m.test.negative); default: <out>/candidates.json, written once per data set and reused')
  .option('--candidate-ids <ids>', 'ids of an NCF --candidates file: ncf (numbered in order of first appearance in the ratings file, as the NCF data; default) or dense (Flock ids: sorted raw ids, 0-based)')
  .option('--optimizer <name>', 'sasrec: sgd (the clients\' optimizer, default) or adam (β1 0.9, β2 0.98, ε 1e-8; --lr is Adam\'s, e.g. 0.001)', 'sgd')
  .option('--out <dir>', 'folder for report.json, rounds.csv, hr-ndcg.svg', 'reports/centralized')
  .action(async (o) => {
    if (!o.centralized) throw new InvalidArgumentError('only `flock train --centralized` exists: pass --centralized');
    const source = dataSource(o);
    const dataset = await loadSource(source);
    const kind = modelKind(o.model);
    if (kind === 'sasrec') {
      if (o.backend !== 'wasm' && o.backend !== 'cpu') throw new InvalidArgumentError('--backend must be wasm or cpu');
      await useNodeBackend(o.backend);
    }
    if (o.optimizer !== 'sgd' && o.optimizer !== 'adam') throw new InvalidArgumentError('--optimizer must be sgd or adam');
    if (o.optimizer === 'adam' && kind !== 'sasrec') throw new InvalidArgumentError('--optimizer adam is for --model sasrec (centralized MF uses the clients\' SGD step)');
    const bar = progressBar('epoch');
    bar.start(o.epochs, 0, { hr: '-', ndcg: '-' });
    const cfg: CentralizedConfig = {
      dim: o.dim, seed: o.seed, epochs: o.epochs, batchSize: o.batchSize, learningRate: o.lr ?? DEFAULT_LEARNING_RATE[kind], negatives: o.negatives, l2: o.l2, evalEvery: o.evalEvery,
      testHistory: cliTestHistory(o.testHistory),
      ...sequenceOptions(o, kind),
      ...(o.optimizer === 'adam' ? { optimizer: 'adam' as const } : {}),
    };
    const onEpoch = (m: EpochMetrics, e: EvaluationPoint | undefined) => {
      bar.update(m.epoch, e ? { hr: e.sampled.hr10.toFixed(4), ndcg: e.sampled.ndcg10.toFixed(4) } : {});
      logEvaluation(m.epoch, m.trainLoss, e);
    };
    const candidates = cliCandidates(o);
    const report = kind === 'sasrec' ? await runCentralizedSequenceExperiment({ source, dataset, cfg, onEpoch, candidates }) : runCentralizedExperiment({ source, dataset, cfg, onEpoch, candidates });
    bar.stop();
    printSummary(report);
    for (const f of await writeResearchOutputs(path.resolve(o.out), report)) console.log(`wrote ${f}`);
  });

/** `--candidates FILE [--candidate-ids ncf|dense]`, else `<out>/candidates.json` (written once per data set, reused). */
function cliCandidates(o: Record<string, any>): CandidatesOptions {
  let ids: NcfIdMapping | undefined;
  try {
    ids = o.candidateIds === undefined ? undefined : parseNcfIdMapping(o.candidateIds);
  } catch (err) {
    throw new InvalidArgumentError(`--candidate-ids: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { file: o.candidates, ids, outDir: path.resolve(o.out), log: (line) => console.log(line) };
}

function cliTestHistory(v: string): TestHistory {
  try {
    return parseTestHistory(v);
  } catch (err) {
    throw new InvalidArgumentError(`--test-history: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Without a terminal (output redirected to a file) the progress bar is silent: one JSON line per evaluation instead. */
function logEvaluation(round: number, trainLoss: number, e: EvaluationPoint | undefined): void {
  if (!e || process.stderr.isTTY) return;
  const f = (m: { sampled: { hr10: number; ndcg10: number }; full: { hr10: number; ndcg10: number } }) =>
    [m.sampled.hr10, m.sampled.ndcg10, m.full.hr10, m.full.ndcg10].map((x) => Number(x.toFixed(4)));
  console.error(JSON.stringify({ round, trainLoss: Number(trainLoss.toFixed(4)), test: f(e), validation: e.validation ? f(e.validation) : null }));
}

/** The model fields of a research config: none for MF (its reports stay as they were), kind and shape for sasrec. */
function sequenceOptions(o: Record<string, any>, kind: ModelKind): { model?: 'sasrec'; sequence?: SequenceSettings } {
  if (kind !== 'sasrec') return {};
  return { model: 'sasrec', sequence: { maxLen: o.maxLen, blocks: o.blocks, heads: o.heads, dropout: o.dropout, ...(o.batchClients !== undefined ? { batchClients: o.batchClients } : {}) } };
}

function dataSource(o: { data?: string; synthetic?: string }): DataSource {
  if (o.data && o.synthetic) throw new InvalidArgumentError('pass either --data or --synthetic, not both');
  if (o.synthetic) return parseSyntheticSpec(o.synthetic);
  const dir = resolveData(o.data);
  if (dir) return { kind: 'movielens', path: dir };
  return { kind: 'synthetic', ...DEFAULT_CATALOG };
}

function progressBar(unit: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    { format: `${unit} {value}/{total} [{bar}] {percentage}% | HR@10 {hr} NDCG@10 {ndcg} | {duration}s`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
}

const pct = (x: number) => x.toFixed(4);

function printSummary(r: ResearchReport): void {
  const rows: [string, { sampled: { hr10: number; ndcg10: number }; full: { hr10: number; ndcg10: number } }][] = [];
  const name = r.config.model === 'sasrec' ? 'SASRec' : 'MF';
  rows.push([r.mode === 'centralized' ? `centralized ${name} (${r.rounds.length} epochs)` : `federated ${name} (${r.rounds.length} rounds)`, r.final]);
  if (r.selected && r.selected.round !== r.final.round) rows.push([`  best validation: ${r.mode === 'centralized' ? 'epoch' : 'round'} ${r.selected.round}`, r.selected]);
  if (r.baselines.centralized) rows.push([`centralized ${name} (${r.baselines.centralized.epochs} epochs)`, r.baselines.centralized]);
  if (r.baselines.popularity) rows.push(['popularity', r.baselines.popularity]);
  console.log(`\n${r.data.name}: ${r.data.users} users, ${r.data.items} items, ${r.data.evaluatedUsers} evaluated (leave-one-out test item, history ${r.config.testHistory})`);
  console.log('model                              HR@10(100neg) NDCG@10(100neg) HR@10(full) NDCG@10(full)');
  for (const [name, e] of rows) {
    console.log(`${name.padEnd(34)} ${pct(e.sampled.hr10).padStart(13)} ${pct(e.sampled.ndcg10).padStart(15)} ${pct(e.full.hr10).padStart(11)} ${pct(e.full.ndcg10).padStart(13)}`);
  }
  if (r.privacy) {
    const { spent, plan } = r.privacy;
    console.log(
      `privacy: ε = ${spent.epsilon.toFixed(3)} spent over ${spent.rounds} rounds at δ = ${spent.delta.toExponential(2)} ` +
        `(z = ${plan.noiseMultiplier.toFixed(4)}, q = ${plan.samplingRate.toPrecision(4)}, mean cohort ${r.privacy.meanCohort.toFixed(1)} of fixed m = ${plan.expectedCohort.toPrecision(4)}; budget ε = ${plan.epsilonBudget.toFixed(3)})`,
    );
  }
  const t = r.timing;
  console.log(
    `training ${t.trainSeconds.toFixed(2)} s (${t.meanRoundSeconds.toFixed(3)} s per ${r.mode === 'centralized' ? 'epoch' : 'round'}` +
      (t.clientUpdatesPerSecond ? `, ${Math.round(t.clientUpdatesPerSecond)} client updates/s` : '') +
      `), evaluation ${t.evalSeconds.toFixed(2)} s`,
  );
}

/** The server optimizer fields of a simulation config: none for sgd (its reports stay as they were). */
function serverOptimizerOptions(o: Record<string, any>): Pick<SimulationConfig, 'serverOptimizer' | 'serverMomentum' | 'serverBeta2' | 'serverEpsilon'> {
  const kind = cliServerOptimizer(o.serverOptimizer);
  if (kind === 'sgd') return {};
  const momentum = { serverOptimizer: kind, serverMomentum: o.serverMomentum };
  return kind === 'momentum' ? momentum : { ...momentum, serverBeta2: o.serverBeta2, serverEpsilon: o.serverEpsilon };
}

/** `--weighting`, `--combine`, `--attack`: the shared parsers, as usage errors. */
function cliUpdateRows(v: string): 'dense' | 'row-sparse' | 'when-smaller' {
  if (v === 'dense' || v === 'row-sparse' || v === 'when-smaller') return v;
  throw new InvalidArgumentError(`--update-rows must be dense, row-sparse or when-smaller, got ${v}`);
}

function cliAggregation<T>(flag: string, parse: (v: string) => T): (v: string) => T {
  return (v) => {
    try {
      return parse(v);
    } catch (err) {
      throw new InvalidArgumentError(`${flag}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

/** `--attack KIND --attackers FRACTION` (both or neither; fraction 0 = no attack). */
function simulationAttack(o: Record<string, any>): Pick<SimulationConfig, 'attack'> {
  if (o.attack === undefined && o.attackers === undefined) return {};
  if (o.attack === undefined || o.attackers === undefined) throw new InvalidArgumentError('--attack and --attackers go together, e.g. --attack reverse --attackers 0.1');
  if (!(Number.isFinite(o.attackers) && o.attackers >= 0 && o.attackers < 1)) throw new InvalidArgumentError(`--attackers must be a fraction in [0, 1), got ${o.attackers}`);
  return o.attackers > 0 ? { attack: { kind: o.attack, fraction: o.attackers } } : {};
}

const simulationDpFlagsGiven = (o: Record<string, any>) => ['dpNoise', 'targetEpsilon', 'delta', 'adaptiveClip'].some((k) => o[k] !== undefined);

/** `--dp-noise z | --target-epsilon ε [--delta δ] [--adaptive-clip [γ]]`, or undefined (no DP; then none of them may be given). */
function simulationDp(o: Record<string, any>): SimulationDp | undefined {
  if (o.dpNoise === undefined && o.targetEpsilon === undefined) {
    if (simulationDpFlagsGiven(o)) throw new InvalidArgumentError('--delta and --adaptive-clip go with differential privacy: add --dp-noise z or --target-epsilon ε');
    return undefined;
  }
  if (o.dpNoise !== undefined && o.targetEpsilon !== undefined) throw new InvalidArgumentError('pass either --dp-noise z or --target-epsilon ε, not both');
  if (o.delta !== undefined && !(o.delta > 0 && o.delta < 1)) throw new InvalidArgumentError(`--delta must be in (0, 1), got ${o.delta}`);
  let adaptiveClip: AdaptiveClipSettings | undefined;
  if (o.adaptiveClip !== undefined) {
    const quantile = o.adaptiveClip === true ? DEFAULT_ADAPTIVE_CLIP.targetQuantile : Number(o.adaptiveClip);
    if (!(quantile > 0 && quantile < 1)) throw new InvalidArgumentError(`--adaptive-clip quantile must be in (0, 1), got ${o.adaptiveClip}`);
    adaptiveClip = { ...DEFAULT_ADAPTIVE_CLIP, targetQuantile: quantile };
  }
  return {
    ...(o.dpNoise !== undefined ? { noiseMultiplier: o.dpNoise } : { targetEpsilon: o.targetEpsilon }),
    ...(o.delta !== undefined ? { delta: o.delta } : {}),
    ...(adaptiveClip ? { adaptiveClip } : {}),
  };
}

/**
 * The aggregation DP-FedAvg needs, from the flags: combine 'mean' (switched from the
 * default, said so; an explicit other rule refused), weighting 'uniform' (the default; an
 * explicit other refused), row normalisation off (always; said so). Poisoning is refused.
 */
function dpAggregation(o: Record<string, any>): { combine: CombineRule; weighting: WeightingPolicy; rowNormalize: false } {
  if (o.combine !== undefined && o.combine.kind !== 'mean') {
    throw new FlockError('bad-config', `--combine ${formatCombine(o.combine)} cannot be used with differential privacy: DP-FedAvg noises the plain sum of the clipped updates, so the combine rule must be mean (pass --combine mean or leave --combine out)`);
  }
  if (o.weighting !== undefined && o.weighting.kind !== 'uniform') {
    throw new FlockError('bad-config', `--weighting ${formatWeighting(o.weighting)} cannot be used with differential privacy: every person's update must weigh exactly 1 (pass --weighting uniform or leave it out)`);
  }
  if (o.attack !== undefined) throw new FlockError('bad-config', '--attack cannot be combined with differential privacy in the simulation');
  const notes = [];
  if (o.combine === undefined) notes.push(`combine switched from the default ${formatCombine(DEFAULT_COMBINE)} to mean`);
  notes.push('row normalisation off (per-row client counts depend on the data)');
  notes.push('uniform weighting');
  notes.push('Poisson sampling at rate q = --clients-per-round (fraction, or count / clients), noised mean over the fixed cohort q × clients');
  console.log(`differential privacy: ${notes.join('; ')}`);
  return { combine: { kind: 'mean' }, weighting: { kind: 'uniform' }, rowNormalize: false };
}

async function simulateInProcess(o: Record<string, any>): Promise<void> {
  if (o.trainer !== 'typed-array' && o.trainer !== 'tfjs') throw new InvalidArgumentError('--trainer must be typed-array or tfjs');
  const kind = modelKind(o.model);
  if (o.trainer === 'tfjs' || kind === 'sasrec') await useNodeBackend(o.backend);
  const source = dataSource(o);
  const dataset = await loadSource(source);
  const attack = simulationAttack(o).attack;
  const dp = simulationDp(o);
  const aggregation = { weighting: o.weighting ?? DEFAULT_WEIGHTING, combine: o.combine ?? DEFAULT_COMBINE, clipNorm: o.clip, rowNormalize: o.rowNormalize };
  if (dp) Object.assign(aggregation, dpAggregation(o));
  if (!o.secureAggregation && o.secaggDropout !== undefined) throw new InvalidArgumentError('--secagg-dropout only means something with --secure-aggregation');
  const secure = o.secureAggregation ? { dropoutFraction: o.secaggDropout ?? 0 } : undefined;
  if (secure) {
    const applied = secureAggregationSettings(aggregation, { combine: o.combine !== undefined, weighting: o.weighting !== undefined });
    Object.assign(aggregation, applied.settings);
    for (const note of applied.notes) console.error(`secure aggregation: ${note}`);
  }
  console.log(
    `aggregation: ${describeAggregation(aggregation)}` +
      (attack ? `; attackers: ${attack.fraction} of the clients send '${attack.kind}' claiming 10⁷ examples` : ''),
  );
  const bar = progressBar('round');
  bar.start(o.rounds, 0, { hr: '-', ndcg: '-' });
  const report = await runFederatedExperiment({
    source,
    dataset,
    candidates: cliCandidates(o),
    centralizedEpochs: o.centralizedEpochs,
    sim: {
      dim: o.dim,
      seed: o.seed,
      rounds: o.rounds,
      clientsPerRound: o.clientsPerRound,
      localEpochs: o.localEpochs,
      batchSize: o.batchSize,
      learningRate: o.lr ?? DEFAULT_LEARNING_RATE[kind],
      negatives: o.negatives,
      l2: o.l2,
      clipNorm: o.clip,
      serverLearningRate: o.serverLr,
      ...serverOptimizerOptions(o),
      rowNormalize: aggregation.rowNormalize,
      weighting: aggregation.weighting,
      combine: aggregation.combine,
      ...simulationAttack(o),
      ...(dp ? { dp } : {}),
      evalEvery: o.evalEvery,
      trainer: kind === 'sasrec' ? 'tfjs' : o.trainer,
      workers: kind === 'sasrec' ? 1 : Math.max(1, o.workers),
      testHistory: cliTestHistory(o.testHistory),
      ...(o.updateEncoding ? { updateEncoding: o.updateEncoding, updateRows: cliUpdateRows(o.updateRows) } : {}),
      ...(secure ? { secureAggregation: secure } : {}),
      ...sequenceOptions(o, kind),
    },
    onRound: (m, e) => {
      bar.update(m.round, e ? { hr: e.sampled.hr10.toFixed(4), ndcg: e.sampled.ndcg10.toFixed(4) } : {});
      logEvaluation(m.round, m.trainLoss, e);
    },
    onDpPlan: (plan) => console.error(`privacy: ${describeDpPlan(plan)}${dp?.adaptiveClip ? `; adaptive clipping to the ${dp.adaptiveClip.targetQuantile} quantile of update norms from C = ${o.clip}` : ''}`),
  });
  bar.stop();
  printSummary(report);
  for (const f of await writeResearchOutputs(path.resolve(o.out), report)) console.log(`wrote ${f}`);
}

program.parseAsync().catch((err: unknown) => {
  const code = err instanceof FlockError ? ` [${err.code}]` : '';
  console.error(`flock: ${err instanceof Error ? err.message : String(err)}${code}`);
  process.exit(1);
});
