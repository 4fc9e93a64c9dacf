/**
 * The round loop shared by the MF and the sequence simulations, mirroring the
 * coordinator's round: sample (the round engine's seeds; Poisson under DP) → the model's
 * clients train → the aggregation pipeline (RoundAggregation, with the DP noise stage
 * when asked) → server optimizer step → per-round metrics and evaluations. Also the
 * mapping from a SimulationConfig to the pipeline's settings, attackers and server step.
 */
import { DEFAULT_COMBINE, DEFAULT_WEIGHTING, type AggregationSettings } from '../../shared/aggregate/aggregation-settings.ts';
import { RoundAggregation } from '../../shared/aggregate/round-aggregation.ts';
import { createServerOptimizer, type ServerOptimizer } from '../../shared/aggregate/server-optimizer.ts';
import { ATTACKER_CLAIMED_EXAMPLES, pickAttackers, poisonUpdate } from '../../shared/attack/poison-update.ts';
import type { RankingReport } from '../../shared/eval/evaluate-ranking.ts';
import { prepareEvaluation, type EvaluationSetup, type SplitReport, type TestHistory } from '../../shared/eval/evaluate-split.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import type { DpPlan } from '../../shared/privacy/dp-plan.ts';
import { deriveSeed, SeededRandom } from '../../shared/random/seeded-random.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import type { DeltaTensors } from '../../shared/update/check-update.ts';
import { deltaToWireTensors } from '../../shared/update/delta-wire-tensors.ts';
import { quantizeWireTensors } from '../../shared/update/quantize-update.ts';
import { decodeUpdate, encodeUpdate } from '../../shared/update/tensor-codec.ts';
import { checkUpdateEncodings } from '../../shared/update/update-encoding.ts';
import { sampleParticipants } from '../rounds/sample-participants.ts';
import { SimulationDpRounds, type RoundPrivacy } from './dp-simulation.ts';
import { checkSimulationSecureAggregation, SecureRoundSum, type SecureRoundOutcome } from './secure-aggregation-rounds.ts';
import { isEvaluationRound, RoundTally } from './round-tally.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { EvaluationLog, toEvaluationPoint, type EvaluationPoint, type HeldOutMetrics, type RoundMetrics, type SimulationResult } from './simulation-result.ts';

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
  if (cfg.secureAggregation) checkSimulationSecureAggregation(cfg, settings);
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
    let wireBytes = 0;
    const secure = cfg.secureAggregation ? new SecureRoundSum(o.spec, cfg.secureAggregation, cfg.seed, r, clipNorm) : undefined;
    const submit = (user: number, delta: DeltaTensors, numExamples: number, preClipNorm?: number) => {
      const poisoned = cfg.attack && attackers.has(user) ? poisonUpdate(cfg.attack.kind, delta, cfg.clipNorm, new SeededRandom(deriveSeed(cfg.seed, r, user, 0x417ac))) : undefined;
      if (secure) {
        secure.submit(user, poisoned ?? delta); // uniform weights: a claimed example count buys nothing
      } else if (poisoned) {
        aggregation.addDelta(poisoned, ATTACKER_CLAIMED_EXAMPLES);
      } else if (cfg.updateEncoding) {
        wireBytes += submitOverWire(o.spec, aggregation, cfg, delta, { round: r, user, numExamples, preClipNorm, clipNorm });
      } else {
        aggregation.addDelta(delta, numExamples, preClipNorm);
      }
    };
    const tally = new RoundTally();
    clientUpdates += await o.trainClients({ round: r, roundSeed: deriveSeed(cfg.seed, r, 1), selected, globals, clipNorm, submit, tally });
    // Under secure aggregation only the unmasked sum is released (noised under DP); a round that could not be unmasked changes nothing.
    const secured: SecureRoundOutcome | undefined = secure?.release(dp?.roundDp(r));
    let privacy: RoundPrivacy | undefined;
    if (dp) {
      const released = dp.release(r, secured?.release ?? aggregation);
      privacy = released.privacy;
      globals = server.step(globals, released.delta);
    } else if (!secured) {
      globals = server.step(globals, aggregation.result());
    } else if (secured.summands > 0) {
      globals = server.step(globals, secured.release.result());
    }
    const seconds = now() - t0;
    trainSeconds += seconds;
    const counted = tally.metrics(r, seconds);
    const measured = cfg.updateEncoding ? { ...counted, bytesUploaded: wireBytes } : secured ? { ...counted, bytesUploaded: secured.bytesUploaded } : counted;
    const m: RoundMetrics = privacy ? { ...measured, ...privacy } : measured;
    rounds.push(m);
    const point = isEvaluationRound(r, cfg.rounds, cfg.evalEvery) ? log.record(r, () => o.evaluate(globals), extend) : undefined;
    o.hooks.onRound?.(m, point);
  }
  return { rounds, evaluations: log.points, globals, clientUpdates, trainSeconds, evalSeconds: log.seconds, ...(dp ? { privacy: dp.summary() } : {}) };
}

/**
 * One honest client's update the way it travels between a participant and the
 * coordinator (cfg.updateEncoding): row layout cfg.updateRows, quantized with a seeded
 * stochastic source (deriveSeed(seed, round, user, 0xc0dec)), encoded, decoded, checked
 * against the offered encoding and folded by RoundAggregation.add. Returns the encoded bytes.
 */
function submitOverWire(
  spec: ModelSpec,
  aggregation: RoundAggregation,
  cfg: SimulationConfig,
  delta: DeltaTensors,
  at: { round: number; user: number; numExamples: number; preClipNorm: number | undefined; clipNorm: number },
): number {
  const encoding = cfg.updateEncoding ?? 'f32';
  const wire = deltaToWireTensors(spec, delta, cfg.updateRows ?? 'when-smaller');
  const tensors = quantizeWireTensors(wire, encoding, at.clipNorm, new SeededRandom(deriveSeed(cfg.seed, at.round, at.user, 0xc0dec)));
  // A client that does not report its pre-clip norm (it only feeds adaptive clipping) counts as above the bound, as with addDelta.
  const preClipNorm = at.preClipNorm ?? Number.MAX_VALUE;
  const bytes = encodeUpdate({ round: at.round, baseVersion: at.round - 1, numExamples: at.numExamples, preClipNorm, tensors });
  const update = decodeUpdate(bytes, { views: true });
  checkUpdateEncodings(update.tensors, [encoding]);
  aggregation.add(update);
  return bytes.byteLength;
}