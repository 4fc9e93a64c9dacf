/**
 * `npm run bench:poisoning`: how far poisoning participants move the federated MF model
 * on ML-100K under each combine rule × weighting policy (the aggregation pipeline of
 * shared/aggregate/round-aggregation.ts, run in-process).
 *
 * Each cell is one in-process run of the README's research configuration (dim 32, all
 * 943 clients per round, 2 local epochs, lr 0.5, l2 0.01, clip 1, server lr 30), with a
 * fixed seeded fraction of the clients sending `--attack` (default reverse: −C·Δ/‖Δ‖)
 * and claiming 10⁷ examples. Reported: the test HR@10 / NDCG@10 (100 sampled negatives)
 * after the last round, and HR@10 relative to the same rule × weighting without
 * attackers. A first row runs the old pipeline as the reference (`--reference`, default
 * examples-capped:10000000 = weight by the claim, with the mean; '' skips it).
 *
 *   npm run bench:poisoning -- [--data PATH] [--rounds 30] [--fractions 0,0.1,0.2]
 *     [--combines mean,trimmed-mean:0.1,median,centered-clipping] [--weightings uniform,examples-capped:64]
 *     [--reference examples-capped:10000000] [--attack reverse] [--workers 1] [--json FILE]
 *
 * MovieLens is read in place (FLOCK_ML100K or --data, default ../shared/data/ml-100k);
 * without it the script says so and exits 0.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { formatCombine, formatWeighting, parseCombine, parseWeighting, type CombineRule, type WeightingPolicy } from '../../shared/aggregate/aggregation-settings.ts';
import { parseAttackKind } from '../../shared/attack/poison-update.ts';
import { defaultMovieLensDir } from '../data/load-movielens.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { loadSource, machineInfo, researchSplit } from './simulation-data.ts';

const { values: a } = parseArgs({
  options: {
    data: { type: 'string' },
    rounds: { type: 'string', default: '30' },
    fractions: { type: 'string', default: '0,0.1,0.2' },
    combines: { type: 'string', default: 'mean,trimmed-mean:0.1,median,centered-clipping' },
    weightings: { type: 'string', default: 'uniform,examples-capped:64' },
    reference: { type: 'string', default: 'examples-capped:10000000' },
    attack: { type: 'string', default: 'reverse' },
    workers: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});

const list = (s: string) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
const dataPath = a.data ?? process.env.FLOCK_ML100K ?? defaultMovieLensDir();
if (!dataPath || !existsSync(dataPath)) {
  console.log(`bench:poisoning skipped: MovieLens 100K not found (${dataPath ?? '../shared/data/ml-100k'}); pass --data PATH or set FLOCK_ML100K`);
  process.exit(0);
}
const rounds = Number(a.rounds);
const fractions = list(a.fractions).map(Number);
const combines: CombineRule[] = list(a.combines).map(parseCombine);
const weightings: WeightingPolicy[] = list(a.weightings).map(parseWeighting);
// (combine, weighting) rows in table order: the reference first.
const grid = [
  ...(a.reference ? [[{ kind: 'mean' }, parseWeighting(a.reference)] as [CombineRule, WeightingPolicy]] : []),
  ...combines.flatMap((c) => weightings.map((w) => [c, w] as [CombineRule, WeightingPolicy])),
].filter(([c, w], i, all) => all.findIndex(([c2, w2]) => formatCombine(c2) === formatCombine(c) && formatWeighting(w2) === formatWeighting(w)) === i);
const attack = parseAttackKind(a.attack);

const base: SimulationConfig = {
  dim: 32, seed: 1, rounds, clientsPerRound: 1, localEpochs: 2, batchSize: 32, learningRate: 0.5, negatives: 4,
  l2: 0.01, clipNorm: 1, serverLearningRate: 30, rowNormalize: true, evalEvery: 0, trainer: 'typed-array', workers: Number(a.workers),
};

interface Cell {
  readonly combine: string;
  readonly weighting: string;
  readonly attackers: number;
  readonly hr10: number;
  readonly ndcg10: number;
  readonly seconds: number;
}

const dataset = await loadSource({ kind: 'movielens', path: dataPath });
const split = researchSplit(dataset);
const cells: Cell[] = [];
console.error(`${dataset.name}: ${rounds} rounds, attack '${attack}', ${grid.length * fractions.length} runs`);
for (const [combine, weighting] of grid) {
  for (const fraction of fractions) {
    const t0 = performance.now();
    const r = await runInProcessSimulation(dataset, split, { ...base, combine, weighting, ...(fraction > 0 ? { attack: { kind: attack, fraction } } : {}) });
    const last = r.evaluations[r.evaluations.length - 1];
    const cell = { combine: formatCombine(combine), weighting: formatWeighting(weighting), attackers: fraction, hr10: last.sampled.hr10, ndcg10: last.sampled.ndcg10, seconds: (performance.now() - t0) / 1000 };
    cells.push(cell);
    console.error(JSON.stringify(cell));
  }
}

const f4 = (x: number) => x.toFixed(4);
const pct = (x: number, ref: number) => `${x >= ref ? '+' : '−'}${Math.abs(((x - ref) / ref) * 100).toFixed(1)} %`;
const label = (f: number) => (f === 0 ? 'honest' : `${Math.round(f * 100)} % attackers`);
const attacked = fractions.filter((f) => f > 0);
console.log(`\n| combine | weighting | ${fractions.map((f) => `${label(f)} HR@10 / NDCG@10`).join(' | ')} | HR@10 vs honest (${attacked.map(label).join(' / ')}) |`);
console.log(`|---|---|${fractions.map(() => '---|').join('')}---|`);
for (const [combine, weighting] of grid) {
  const row = fractions.map((f) => cells.find((c) => c.combine === formatCombine(combine) && c.weighting === formatWeighting(weighting) && c.attackers === f)!);
  const honest = row[fractions.indexOf(0)];
  const rel = honest ? attacked.map((f) => pct(row[fractions.indexOf(f)].hr10, honest.hr10)).join(' / ') : '–';
  console.log(`| ${formatCombine(combine)} | ${formatWeighting(weighting)} | ${row.map((c) => `${f4(c.hr10)} / ${f4(c.ndcg10)}`).join(' | ')} | ${rel} |`);
}
console.log(`\n${cells.length} runs, ${Math.round(cells.reduce((s, c) => s + c.seconds, 0))} s in all`);
if (a.json) await writeFile(a.json, JSON.stringify({ config: { ...base, attack, fractions }, machine: machineInfo(), cells }, null, 2));
