/**
 * `npm run bench:poisoning:sockets`: the poisoning experiment through real sockets. For
 * each aggregation setting and attacker fraction, a real coordinator process
 * (`flock serve --models mf`, built-in synthetic catalog) and a socket fleet of
 * Participants (the browser's class, Node wasm backend, each with its own credential);
 * a fixed seeded fraction of them replace their clipped update with the reversed step
 * at the clip bound and claim 10⁷ examples. Prints HR@10 / NDCG@10 (100 sampled
 * negatives, each fleet user's held-out last item) after the last round, beside the
 * honest run of the same setting.
 *
 *   npm run bench:poisoning:sockets -- [--clients 50] [--rounds 15] [--attackers 0,0.1,0.2] [--settings default,uniform+mean]
 */
import { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_COMBINE, DEFAULT_WEIGHTING, formatCombine, formatWeighting } from '../../shared/aggregate/aggregation-settings.ts';
import { runSocketFleet } from '../fleet/socket-fleet.ts';
import { CoordinatorProcess } from './load-processes.ts';

const o = new Command('bench:poisoning:sockets')
  .option('--clients <n>', 'socket participants', Number, 50)
  .option('--rounds <n>', 'versions to wait for per run', Number, 15)
  .option('--attackers <list>', 'attacker fractions', '0,0.1,0.2')
  .option('--settings <list>', 'weighting+combine pairs; "default" = the serve defaults; examples-capped:10000000 = weight by the client\'s claim, as before the pipeline', `default,examples-capped:10000000+mean,uniform+median,uniform+trimmed-mean:0.2`)
  .option('--attack <kind>', 'reverse | noise | scale', 'reverse')
  .option('--seed <n>', 'seed', Number, 1)
  .parse()
  .opts();

interface Row { setting: string; attackers: number; hr10: number; ndcg10: number; seconds: number; rejections: number }

async function runOne(setting: string, attackers: number): Promise<Row> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-poison-sockets-'));
  const [weighting, combine] = setting === 'default' ? [formatWeighting(DEFAULT_WEIGHTING), formatCombine(DEFAULT_COMBINE)] : setting.split('+');
  const coordinator = new CoordinatorProcess([], [
    '--port', '0', '--models', 'mf', '--data-dir', dataDir, '--static', path.join(dataDir, 'none'),
    '--min-clients', String(o.clients), '--clients-per-round', '1', '--round-delay', '20', '--round-interval', '0', '--seed', String(o.seed),
    '--credential-rate', `${o.clients * 4}/10m`, '--weighting', weighting, '--combine', combine,
  ]);
  const t0 = Date.now();
  try {
    const listening = await coordinator.waitFor((j) => j.msg === 'listening', 120_000, 'listening');
    const report = await runSocketFleet({
      url: String(listening.url),
      model: 'mf',
      clients: o.clients,
      rounds: o.rounds,
      seed: o.seed,
      backend: 'wasm',
      ...(attackers > 0 ? { attack: { kind: o.attack, fraction: attackers } } : {}),
      log: () => {},
    });
    const last = report.history[report.history.length - 1];
    return { setting: `${weighting} + ${combine}`, attackers, hr10: last.hr10, ndcg10: last.ndcg10, seconds: (Date.now() - t0) / 1000, rejections: report.rejections };
  } finally {
    await coordinator.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const fractions = String(o.attackers).split(',').map(Number);
const settings = String(o.settings).split(',');
console.log(`socket poisoning: ${o.clients} participants over real socket.io, all selected each round, ${o.rounds} versions per run, attack ${o.attack} at the clip bound claiming 10⁷ examples, synthetic catalog, seed ${o.seed}`);
const rows: Row[] = [];
for (const s of settings) {
  for (const f of fractions) {
    const r = await runOne(s, f);
    rows.push(r);
    const honest = rows.find((x) => x.setting === r.setting && x.attackers === 0);
    const rel = honest ? ` (${((r.hr10 / honest.hr10 - 1) * 100).toFixed(1)} % vs honest)` : '';
    console.log(`${r.setting.padEnd(42)} attackers ${String(Math.round(f * 100)).padStart(2)} %  HR@10 ${r.hr10.toFixed(4)}${rel}  NDCG@10 ${r.ndcg10.toFixed(4)}  (${r.seconds.toFixed(0)} s)`);
  }
}
process.exit(0);
