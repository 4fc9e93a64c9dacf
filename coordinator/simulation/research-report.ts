/**
 * The files a research run writes: report.json (schema below, documented in README),
 * rounds.csv (one row per round or epoch) and hr-ndcg.svg (HR@10 / NDCG@10 against
 * rounds, with centralized and popularity baselines as dashed horizontal lines).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SimulationPrivacy } from './dp-simulation.ts';
import type { EvaluationPoint } from './simulation-result.ts';
import type { MachineInfo } from './simulation-data.ts';
import { lineChartSvg, type ChartSeries } from './svg-line-chart.ts';

export interface ResearchReport {
  /** 'flock-research-report' */
  readonly format: 'flock-research-report';
  readonly formatVersion: 1;
  readonly mode: 'federated-in-process' | 'centralized';
  readonly createdAt: string;
  readonly data: { source: string; name: string; users: number; items: number; trainInteractions: number; evaluatedUsers: number; split: string };
  readonly config: Record<string, unknown>;
  readonly machine: MachineInfo;
  /** Per round (federated) or per epoch (centralized): `round` is the round/epoch number. */
  readonly rounds: readonly (Record<string, number> & { round: number })[];
  /** Test (and validation) metrics at round 0 (initial weights), every k rounds and the last round. */
  readonly evaluations: readonly EvaluationPoint[];
  readonly final: EvaluationPoint;
  /** The evaluation with the best validation NDCG@10 (100 neg.): the run's reported result (select-by-validation.ts). */
  readonly selected?: EvaluationPoint;
  readonly baselines: { centralized?: EvaluationPoint & { epochs: number }; popularity?: EvaluationPoint };
  /** Under DP: the plan (z, δ, q, population, fixed cohort m, round budget, ε budget) and the privacy spent; per round in `rounds`. */
  readonly privacy?: SimulationPrivacy;
  readonly timing: { trainSeconds: number; evalSeconds: number; meanRoundSeconds: number; clientUpdates?: number; clientUpdatesPerSecond?: number; totalSeconds: number };
}

export function reportCsv(r: ResearchReport): string {
  const roundCols = r.rounds.length > 0 ? Object.keys(r.rounds[0]) : ['round'];
  const header = [...roundCols, 'hr10_sampled', 'ndcg10_sampled', 'hr10_full', 'ndcg10_full', 'val_hr10_sampled', 'val_ndcg10_sampled', 'val_hr10_full', 'val_ndcg10_full'];
  const byRound = new Map(r.evaluations.map((e) => [e.round, e]));
  const lines = [header.join(',')];
  const metrics = (e: EvaluationPoint | undefined) => {
    const v = e?.validation;
    return [
      ...(e ? [e.sampled.hr10, e.sampled.ndcg10, e.full.hr10, e.full.ndcg10] : ['', '', '', '']),
      ...(v ? [v.sampled.hr10, v.sampled.ndcg10, v.full.hr10, v.full.ndcg10] : ['', '', '', '']),
    ];
  };
  const e0 = byRound.get(0);
  if (e0) lines.push([...roundCols.map((c) => (c === 'round' ? '0' : '')), ...metrics(e0)].join(','));
  for (const row of r.rounds) lines.push([...roundCols.map((c) => String(row[c])), ...metrics(byRound.get(row.round))].join(','));
  return lines.join('\n') + '\n';
}

export function reportSvg(r: ResearchReport): string {
  const label = r.mode === 'centralized' ? 'centralized' : 'federated';
  const series: ChartSeries[] = [
    { name: `${label} HR@10`, color: '#1f77b4', points: r.evaluations.map((e) => [e.round, e.sampled.hr10]) },
    { name: `${label} NDCG@10`, color: '#d62728', points: r.evaluations.map((e) => [e.round, e.sampled.ndcg10]) },
  ];
  const c = r.baselines.centralized;
  if (c) {
    series.push({ name: 'centralized HR@10', color: '#1f77b4', points: [[0, c.sampled.hr10]], horizontal: true });
    series.push({ name: 'centralized NDCG@10', color: '#d62728', points: [[0, c.sampled.ndcg10]], horizontal: true });
  }
  const p = r.baselines.popularity;
  if (p) {
    series.push({ name: 'popularity HR@10', color: '#7f7f7f', points: [[0, p.sampled.hr10]], horizontal: true });
    series.push({ name: 'popularity NDCG@10', color: '#bcbd22', points: [[0, p.sampled.ndcg10]], horizontal: true });
  }
  return lineChartSvg(series, {
    title: `${r.data.name}: ${label} ${r.config.model === 'sasrec' ? 'SASRec' : 'MF'}, HR@10 / NDCG@10 (100 sampled negatives)`,
    xLabel: r.mode === 'centralized' ? 'epoch' : 'round',
    yLabel: 'metric',
  });
}

export async function writeResearchOutputs(dir: string, r: ResearchReport): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = [path.join(dir, 'report.json'), path.join(dir, 'rounds.csv'), path.join(dir, 'hr-ndcg.svg')];
  await writeFile(files[0], JSON.stringify(r, null, 2) + '\n');
  await writeFile(files[1], reportCsv(r));
  await writeFile(files[2], reportSvg(r));
  return files;
}
