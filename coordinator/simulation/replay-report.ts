/**
 * The replay's outputs (`flock simulate --replay`): replay.csv (one row per day, every
 * arm's sums), replay.svg (HR@10 per arm, pooled over a sliding week so a day with few
 * test cases does not dominate) and table.md (pooled over the second half of the timeline,
 * where all arms exist, and over the whole stream).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pooled, REPLAY_ARMS, REPLAY_NEGATIVES, type ReplayArm, type ReplayResult } from './replay.ts';
import { lineChartSvg, type ChartSeries } from './svg-line-chart.ts';

const COLORS: Record<ReplayArm, string> = { frozen: '#7f7f7f', federated: '#1f77b4', 'centralized-daily': '#d62728', popularity: '#2ca02c' };
const WINDOW = 7;
const f = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : '–');

export function replayCsv(r: ReplayResult): string {
  const armCols = REPLAY_ARMS.flatMap((a) => [`${a}_hr10`, `${a}_ndcg10`, `${a}_cases`, `${a}_cold_hr10`, `${a}_cold_cases`]);
  const lines = [['day', 'interactions', 'items', 'people', ...armCols].join(',')];
  for (const d of r.days) {
    const cells = REPLAY_ARMS.flatMap((a) => {
      const s = d.arms[a];
      if (!s) return ['', '', '', '', ''];
      return [s.n ? s.hr / s.n : '', s.n ? s.ndcg / s.n : '', s.n, s.coldN ? s.coldHr / s.coldN : '', s.coldN];
    });
    lines.push([d.day, d.interactions, d.items, d.people, ...cells].join(','));
  }
  return `${lines.join('\n')}\n`;
}

export function replaySvg(r: ReplayResult, title: string): string {
  const series: ChartSeries[] = REPLAY_ARMS.map((arm) => {
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
    REPLAY_ARMS.map((arm) => {
      const p = pooled(r.days, arm, from, to);
      return p.n === 0 ? `| ${arm} | – | – | 0 | – | 0 |` : `| ${arm} | ${f(p.hr10)} | ${f(p.ndcg10)} | ${p.n} | ${f(p.coldHr10)} | ${p.coldN} |`;
    });
  const head = ['| model | HR@10 | NDCG@10 | test cases | cold-start items: HR@10 | cold cases |', '|---|---|---|---|---|---|'];
  return [
    `# Prequential replay: ${name}`,
    '',
    '```sh',
    command,
    '```',
    '',
    `${r.days.length} days, ${r.numUsers} people, ${r.numItems} items; frozen model trained on days 0–${r.half - 1}. Test cases: every interaction of a day by a person with an earlier day, scored among ${REPLAY_NEGATIVES} fixed negatives by the model of the previous day's end (pessimistic ties); cold-start items (first seen that day, no feature tower: their initial row) apart. Seconds: ${r.seconds.total.toFixed(0)} total, federated ${r.seconds.federated.toFixed(0)}, centralized ${r.seconds.centralized.toFixed(0)}, evaluation ${r.seconds.evaluation.toFixed(0)}.`,
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
    ['replay.json', `${JSON.stringify({ format: 'flock-replay', formatVersion: 1, createdAt: new Date().toISOString(), command, config, half: r.half, seconds: r.seconds, summary: Object.fromEntries(REPLAY_ARMS.map((a) => [a, { secondHalf: pooled(r.days, a, r.half), all: pooled(r.days, a) }])) })}\n`],
  ];
  const out: string[] = [];
  for (const [file, text] of files) {
    const p = path.join(dir, file);
    await writeFile(p, text);
    out.push(p);
  }
  return out;
}
