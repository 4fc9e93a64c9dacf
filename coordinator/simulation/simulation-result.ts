/**
 * What a research run produces: per-round metrics, evaluation points (HR@10 / NDCG@10 on
 * the test and validation items), and the run's result; EvaluationLog records the
 * evaluations and their cost.
 */
import type { RankingReport } from '../../shared/eval/evaluate-ranking.ts';
import type { SplitReport, TestHistory } from '../../shared/eval/evaluate-split.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import type { RoundPrivacy, SimulationPrivacy } from './dp-simulation.ts';

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

