/**
 * `npm run bench:compression`: what compressed updates (issue 11) cost in bytes and in
 * ranking quality on ML-100K, in-process, through the same encode → decode path the
 * wire uses (SimulationConfig.updateEncoding: quantize → encodeUpdate → decodeUpdate →
 * RoundAggregation.add, bytes counted from the encoded messages).
 *
 * Rows: the in-memory reference (no wire, bytes = one dense f32 update), then every
 * encoding (f32, f16, int8) × row layout (dense: every row; row-sparse: only the touched
 * rows). Each row is one run per seed of the README's research configuration (dim 32,
 * all 943 clients per round, 2 local epochs, batch 32, lr 0.5, 4 negatives, l2 0.01,
 * clip 1, server lr 30, row normalisation, the default combine), --rounds rounds,
 * evaluated once at the end under the fixed protocol (coordinator/simulation/README.md:
 * test item scored from train + validation, 100 fixed sampled negatives and full
 * ranking). Reported: mean bytes per update (per participant per round), its ratio to
 * dense f32, and test HR@10 / NDCG@10 (mean over seeds) with HR@10 relative to the
 * f32 dense wire row.
 *
 *   npm run bench:compression -- [--data PATH] [--rounds 20] [--seeds 1,2] [--out reports/compression]
 *     [--cells LOG,LOG…]   (no runs: the table from the JSON lines runs printed on stderr,
 *                           e.g. seeds run in separate processes)
 *     [--only 'f16 dense,int8 row-sparse']   (run only these rows)
 *
 * MovieLens is read in place (FLOCK_ML100K or --data, default ../shared/data/ml-100k);
 * without it the script says so and exits 0. Writes table.md, table.csv and results.json.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { RowEncoding } from '../../shared/update/tensor-codec.ts';
import type { UpdateEncoding } from '../../shared/update/update-encoding.ts';
import { defaultMovieLensDir } from '../data/load-movielens.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { loadSource, machineInfo, researchSplit } from './simulation-data.ts';

const { values: a } = parseArgs({
  options: {
    data: { type: 'string' },
    rounds: { type: 'string', default: '20' },
    seeds: { type: 'string', default: '1,2' },
    out: { type: 'string', default: 'reports/compression' },
    cells: { type: 'string' },
    only: { type: 'string' },
  },
});

const dataPath = a.data ?? process.env.FLOCK_ML100K ?? defaultMovieLensDir();
if (!dataPath || !existsSync(dataPath)) {
  console.log(`bench:compression skipped: MovieLens 100K not found (${dataPath ?? '../shared/data/ml-100k'}); pass --data PATH or set FLOCK_ML100K`);
  process.exit(0);
}
const rounds = Number(a.rounds);
const seeds = a.seeds.split(',').map((s) => Number(s.trim()));

interface Variant {
  readonly label: string;
  readonly encoding?: UpdateEncoding;
  readonly rows?: RowEncoding;
}
const variants: Variant[] = [
  { label: 'in-memory (no wire)' },
  ...(['dense', 'row-sparse'] as const).flatMap((rows) => (['f32', 'f16', 'int8'] as const).map((encoding) => ({ label: `${encoding} ${rows}`, encoding, rows }))),
];

const base: Omit<SimulationConfig, 'seed'> = {
  dim: 32, rounds, clientsPerRound: 1, localEpochs: 2, batchSize: 32, learningRate: 0.5, negatives: 4,
  l2: 0.01, clipNorm: 1, serverLearningRate: 30, rowNormalize: true, evalEvery: 0, trainer: 'typed-array', workers: 1,
};

interface Cell {
  readonly variant: string;
  readonly seed: number;
  readonly bytesPerUpdate: number;
  readonly hr10: number;
  readonly ndcg10: number;
  readonly fullHr10: number;
  readonly fullNdcg10: number;
  readonly seconds: number;
}

const dataset = await loadSource({ kind: 'movielens', path: dataPath });
const cells: Cell[] = a.cells ? loggedCells(a.cells.split(',')) : [];
if (a.cells) seeds.splice(0, seeds.length, ...new Set(cells.map((c) => c.seed)));
else console.error(`${dataset.name}: ${rounds} rounds × ${variants.length} variants × seeds ${seeds.join(',')}`);
const split = a.cells ? undefined : researchSplit(dataset);
for (const seed of a.cells ? [] : seeds) {
  for (const v of variants) {
    if (a.only && !a.only.split(',').includes(v.label)) continue;
    const t0 = performance.now();
    const cfg: SimulationConfig = { ...base, seed, ...(v.encoding ? { updateEncoding: v.encoding, updateRows: v.rows } : {}) };
    const r = await runInProcessSimulation(dataset, split!, cfg);
    const last = r.evaluations[r.evaluations.length - 1];
    const bytes = r.rounds.reduce((s, m) => s + m.bytesUploaded, 0);
    const updates = r.rounds.reduce((s, m) => s + m.clients, 0);
    const cell: Cell = {
      variant: v.label, seed, bytesPerUpdate: bytes / updates,
      hr10: last.sampled.hr10, ndcg10: last.sampled.ndcg10, fullHr10: last.full.hr10, fullNdcg10: last.full.ndcg10,
      seconds: (performance.now() - t0) / 1000,
    };
    cells.push(cell);
    console.error(JSON.stringify(cell));
  }
}

/** Cells from the JSON lines earlier runs logged (one object per line; other lines skipped; the first of a repeated variant × seed kept). */
function loggedCells(files: string[]): Cell[] {
  const all = files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter((l) => l.startsWith('{"variant"')).map((l) => JSON.parse(l) as Cell));
  return all.filter((c, i) => all.findIndex((d) => d.variant === c.variant && d.seed === c.seed) === i);
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const rows = variants.map((v) => {
  const c = cells.filter((x) => x.variant === v.label);
  return {
    variant: v.label,
    bytesPerUpdate: mean(c.map((x) => x.bytesPerUpdate)),
    hr10: mean(c.map((x) => x.hr10)),
    ndcg10: mean(c.map((x) => x.ndcg10)),
    fullHr10: mean(c.map((x) => x.fullHr10)),
    fullNdcg10: mean(c.map((x) => x.fullNdcg10)),
    perSeedHr10: c.map((x) => x.hr10),
  };
});
const ref = rows.find((r) => r.variant === 'f32 dense')!;
const pct = (x: number, y: number) => `${x >= y ? '+' : '−'}${Math.abs(((x - y) / y) * 100).toFixed(2)} %`;
const md = [
  `Compressed updates on ${dataset.name}: ${rounds} rounds, seeds ${seeds.join(', ')} (mean), research configuration (dim 32, 943 clients/round, 2 local epochs, clip 1, server lr 30, default combine); test item from train + validation, 100 fixed sampled negatives (HR@10 / NDCG@10) and full ranking.`,
  '',
  '| update | bytes / update | vs f32 dense | HR@10 | NDCG@10 | HR@10 vs f32 dense | full HR@10 / NDCG@10 | HR@10 per seed |',
  '|---|---:|---:|---:|---:|---:|---:|---|',
  ...rows.map((r) => `| ${r.variant} | ${Math.round(r.bytesPerUpdate)} | ${(r.bytesPerUpdate / ref.bytesPerUpdate).toFixed(3)} | ${r.hr10.toFixed(4)} | ${r.ndcg10.toFixed(4)} | ${pct(r.hr10, ref.hr10)} | ${r.fullHr10.toFixed(4)} / ${r.fullNdcg10.toFixed(4)} | ${r.perSeedHr10.map((x) => x.toFixed(4)).join(', ')} |`),
  '',
  `${cells.length} runs, ${Math.round(cells.reduce((s, c) => s + c.seconds, 0))} s in all.`,
];
const csv = ['variant,seed,bytes_per_update,hr10,ndcg10,full_hr10,full_ndcg10,seconds', ...cells.map((c) => [c.variant, c.seed, c.bytesPerUpdate.toFixed(1), c.hr10, c.ndcg10, c.fullHr10, c.fullNdcg10, c.seconds.toFixed(1)].join(','))];
mkdirSync(a.out, { recursive: true });
await writeFile(join(a.out, 'table.md'), md.join('\n') + '\n');
await writeFile(join(a.out, 'table.csv'), csv.join('\n') + '\n');
await writeFile(join(a.out, 'results.json'), JSON.stringify({ config: { ...base, seeds }, machine: machineInfo(), cells, rows }, null, 2));
console.log(md.join('\n'));
console.log(`\nwritten: ${join(a.out, 'table.md')}, table.csv, results.json`);
