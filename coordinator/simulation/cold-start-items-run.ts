/**
 * npm-less entry of the cold-start items experiment (cold-start-items.ts):
 *
 *   node --import tsx coordinator/simulation/cold-start-items-run.ts [--data ../shared/data/ml-100k]
 *     [--rounds 20] [--clients 200] [--dim 16] [--buckets 512] [--cold 0.1] [--seed 1] [--out reports/cold-start-items]
 *
 * Runs the same protocol without and with the feature tower and writes results.json and
 * table.md (small) under --out. MovieLens is read in place (default ../shared/data/ml-100k);
 * without it the synthetic catalog (its genres come from its latent factors) is used.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_CATALOG, generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { defaultMovieLensDir, loadMovieLens } from '../data/load-movielens.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { runColdStartItems, type ColdStartOptions, type ColdStartResult } from './cold-start-items.ts';

const { values: a } = parseArgs({
  options: {
    data: { type: 'string' }, rounds: { type: 'string', default: '20' }, clients: { type: 'string', default: '200' },
    dim: { type: 'string', default: '16' }, buckets: { type: 'string', default: '512' }, cold: { type: 'string', default: '0.1' },
    seed: { type: 'string', default: '1' }, out: { type: 'string', default: 'reports/cold-start-items' },
  },
});
await useNodeBackend('wasm');
const dir = a.data ?? defaultMovieLensDir();
const dataset = dir ? await loadMovieLens(dir) : generateSyntheticDataset({ ...DEFAULT_CATALOG });
const o: ColdStartOptions = {
  rounds: Number(a.rounds), clientsPerRound: Number(a.clients), dim: Number(a.dim), buckets: Number(a.buckets),
  coldFraction: Number(a.cold), seed: Number(a.seed),
  onRound: (r, s) => process.stderr.write(`round ${r}: ${s.toFixed(1)} s\n`),
};
const results: ColdStartResult[] = [];
for (const tower of [false, true]) {
  process.stderr.write(`${dataset.name}, tower ${tower ? 'on' : 'off'}\n`);
  results.push(await runColdStartItems(dataset, o, tower));
}
const f = (x: number) => x.toFixed(4);
const table = [
  `Cold-start items, ${dataset.name}: ${results[0].coldItems} cold items, ${results[0].pairs} (person, cold item) pairs; ${o.rounds} rounds × ${o.clientsPerRound} clients, dim ${o.dim}, ${o.buckets} buckets, seed ${o.seed}`,
  '',
  '| feature tower | HR@10 among cold items | HR@10 full catalog | train s |',
  '|---|---|---|---|',
  ...results.map((r) => `| ${r.tower ? 'on' : 'off'} | ${f(r.hr10Cold)} | ${f(r.hr10Full)} | ${r.trainSeconds.toFixed(0)} |`),
].join('\n');
await mkdir(a.out!, { recursive: true });
await writeFile(path.join(a.out!, 'results.json'), JSON.stringify({ dataset: dataset.name, options: { ...o, onRound: undefined }, results }, null, 2));
await writeFile(path.join(a.out!, 'table.md'), table + '\n');
console.log(table);
