/**
 * The replay's outputs (`flock simulate --replay`): replay.csv (one row per day, every
 * arm's sums), replay.svg (HR@10 per arm, pooled over a sliding week so a day with few
 * test cases does not dominate) and table.md (pooled over the second half of the timeline,
 * where all arms exist, and over the whole stream; with the tower arms, the first-day
 * items' HR@10 / NDCG@10 with and without the tower). Arms that did not run are left out.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pooled, REPLAY_ARMS, REPLAY_NEGATIVES, type ReplayArm, type ReplayResult } from './replay.ts';
import { lineChartSvg, type ChartSeries } from './svg-line-chart.ts';

const COLORS: Record<ReplayArm, string> = {
  frozen: '#7f7f7f',
  federated: '#1f77b4',
  'federated-tower': '#17becf',
  'centralized-daily': '#d62728',
  'centralized-daily-tower': '#ff7f0e',
  popularity: '#2ca02c',
};
const WINDOW = 7;
const f = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : '–');

/** The arms that ran (scored at least one day). */
export const armsRun = (r: ReplayResult): ReplayArm[] => REPLAY_ARMS.filter((a) => r.days.some((d) => d.arms[a] !== undefined));

export function replayCsv(r: ReplayResult): string {
  const arms = armsRun(r);
  const armCols = arms.flatMap((a) => [`${a}_hr10`, `${a}_ndcg10`, `${a}_cases`, `${a}_cold_hr10`, `${a}_cold_cases`, `${a}_day_old_hr10`, `${a}_day_old_cases`]);
  const lines = [['day', 'interactions', 'items', 'people', ...armCols].join(',')];
  for (const d of r.days) {
    const cells = arms.flatMap((a) => {
      const s = d.arms[a];
      if (!s) return ['', '', '', '', '', '', ''];
      return [s.n ? s.hr / s.n : '', s.n ? s.ndcg / s.n : '', s.n, s.coldN ? s.coldHr / s.coldN : '', s.coldN, s.youngN ? s.youngHr / s.youngN : '', s.youngN];
    });
    lines.push([d.day, d.interactions, d.items, d.people, ...cells].join(','));
  }
  return `${lines.join('\n')}\n`;
}

export function replaySvg(r: ReplayResult, title: string): string {
  const series: ChartSeries[] = armsRun(r).map((arm) => {
    const points: [number, number][] = [];
    for (let d = 0; d < r.days.length; d++) {
      const p = pooled(r.days, arm, Math.max(0, d - WINDOW + 1), d + 1);
      if (p.n >= 20 && r.days[d].arms[arm]) points.push([d, p.hr10]);
    }
    return { name: arm, color: COLORS[arm], points };
  });
  return lineChartSvg(series, { title, xLabel: `day (HR@10 pooled over the last ${WINDOW} days; frozen model trained on days < ${r.half})`, yLabel: `next-day HR@10 (${REPLAY_NEGATIVES} neg.)` });
}

export function replayMarkdown(r: ReplayResult, name: string, command: string): string {
  const rows = (from: number, to: number) =>
    armsRun(r).map((arm) => {
      const p = pooled(r.days, arm, from, to);
      return p.allN === 0
        ? `| ${arm} | – | – | 0 | – | – | 0 | – | 0 | – | – |`
        : `| ${arm} | ${f(p.hr10)} | ${f(p.ndcg10)} | ${p.n} | ${f(p.firstDayHr10)} | ${f(p.firstDayNdcg10)} | ${p.firstDayN} | ${f(p.coldHr10)} | ${p.coldN} | ${f(p.allHr10)} | ${f(p.allNdcg10)} |`;
    });
  const head = [
    '| model | warm HR@10 | warm NDCG@10 | warm cases | first-day items: HR@10 | NDCG@10 | cases | of which new that day: HR@10 | cases | all cases: HR@10 | NDCG@10 |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  return [
    `# Prequential replay: ${name}`,
    '',
    '```sh',
    command,
    '```',
    '',
    `${r.days.length} days, ${r.numUsers} people, ${r.numItems} items; frozen model trained on days 0–${r.half - 1}. Test cases: every interaction of a day by a person with an earlier day, scored among ${REPLAY_NEGATIVES} fixed negatives by the model of the previous day's end, ties broken uniformly at random (in expectation). Warm: the item existed before the day. First-day items: the item first appeared that day or the day before; "new that day": not in any model before the day, scored from its added row (free row 0, free bias = the mean free bias of the existing items) and, in the *-tower arms, its features. All cases = warm + new that day. Seconds: ${r.seconds.total.toFixed(0)} total, federated ${r.seconds.federated.toFixed(0)}, centralized ${r.seconds.centralized.toFixed(0)}, evaluation ${r.seconds.evaluation.toFixed(0)}.`,
    '',
    `Second half (days ${r.half}–${r.days.length - 1}), all arms:`,
    '',
    ...head,
    ...rows(r.half, r.days.length),
    '',
    'Whole stream (days 1–end; frozen from the second half only):',
    '',
    ...head,
    ...rows(0, r.days.length),
    '',
  ].join('\n');
}

export async function writeReplayOutputs(dir: string, r: ReplayResult, name: string, command: string, config: unknown): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    ['replay.csv', replayCsv(r)],
    ['replay.svg', replaySvg(r, `Prequential next-day HR@10: ${name}`)],
    ['table.md', replayMarkdown(r, name, command)],
    ['replay.json', `${JSON.stringify({ format: 'flock-replay', formatVersion: 1, createdAt: new Date().toISOString(), command, config, half: r.half, seconds: r.seconds, summary: Object.fromEntries(armsRun(r).map((a) => [a, { secondHalf: pooled(r.days, a, r.half), all: pooled(r.days, a) }])) })}\n`],
  ];
  const out: string[] = [];
  for (const [file, text] of files) {
    const p = path.join(dir, file);
    await writeFile(p, text);
    out.push(p);
  }
  return out;
}
