/**
 * `flock simulate --replay` (coordinator/cli.ts routes here): loads the data set, plays
 * it day by day (replay.ts) and writes replay.csv, replay.svg, table.md and replay.json.
 * Reads the simulate command's training flags (--dim, --seed, --local-epochs,
 * --batch-size, --lr, --negatives, --l2, --clip, --server-lr, --no-row-normalize) and
 * --rounds-per-day; --centralized-epochs is the frozen model's epochs; the centralized
 * daily arm runs 1 epoch per day over all data so far. --item-features on|federated|off
 * adds the tower arms (both, or only federated-tower) on the data set's item features,
 * hashed into DEFAULT_FEATURE_BUCKETS buckets as `flock serve` does.
 */
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { DEFAULT_FEATURE_BUCKETS } from '../../shared/model/item-feature-tower.ts';
import { DEFAULT_LEARNING_RATE } from '../serve-config.ts';
import { runReplay, type ReplayConfig } from './replay.ts';
import { replayMarkdown, writeReplayOutputs } from './replay-report.ts';
import { loadSource, type DataSource } from './simulation-data.ts';

/** The simulate command's default --out; a replay without --out writes to reports/replay instead. */
const SIMULATE_DEFAULT_OUT = 'reports/simulate';

export async function simulateReplay(source: DataSource, o: Record<string, any>): Promise<void> {
  if ((o.model ?? 'mf') !== 'mf') throw new InvalidArgumentError('--replay runs the MF model (--model mf)');
  for (const flag of ['dpNoise', 'targetEpsilon', 'attack', 'url']) if (o[flag] !== undefined) throw new InvalidArgumentError(`--replay does not combine with --${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  const towerFlag = o.itemFeatures ?? 'off';
  if (!['on', 'federated', 'off'].includes(towerFlag)) throw new InvalidArgumentError(`--item-features must be on, federated or off, got '${towerFlag}'`);
  const dataset = await loadSource(source);
  const cfg: ReplayConfig = {
    dim: o.dim,
    seed: o.seed,
    roundsPerDay: o.roundsPerDay,
    localEpochs: o.localEpochs,
    batchSize: o.batchSize,
    learningRate: o.lr ?? DEFAULT_LEARNING_RATE.mf,
    negatives: o.negatives,
    l2: o.l2,
    clipNorm: o.clip,
    serverLearningRate: o.serverLr,
    rowNormalize: o.rowNormalize,
    centralEpochsPerDay: 1,
    frozenEpochs: Math.max(1, o.centralizedEpochs),
    ...(towerFlag === 'off' ? {} : { itemFeatures: { buckets: DEFAULT_FEATURE_BUCKETS, centralized: towerFlag === 'on' } }),
  };
  const result = runReplay(dataset, cfg, (line) => console.error(line));
  const command = `npm run flock -- simulate ${process.argv.slice(3).join(' ')}`.trim();
  console.log(replayMarkdown(result, dataset.name, command));
  const out = path.resolve(o.out === SIMULATE_DEFAULT_OUT ? 'reports/replay' : o.out);
  const config = { data: dataset.name, ...cfg };
  for (const f of await writeReplayOutputs(out, result, dataset.name, command, config)) console.log(`wrote ${f}`);
}
