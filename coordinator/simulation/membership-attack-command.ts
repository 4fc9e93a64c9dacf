/**
 * The `flock attack membership` verb (registered by coordinator/cli.ts): runs the
 * in-process MF simulation, attacks its last round as the curious coordinator in every
 * setting (membership-attack.ts) and writes table.md, table.csv and results.json.
 */
import { Command, InvalidArgumentError } from 'commander';
import path from 'node:path';
import { FlockError } from '../../shared/errors.ts';
import { defaultMovieLensDir } from '../data/load-movielens.ts';
import { DEFAULT_DP_ROUNDS, DEFAULT_LEARNING_RATE, DEFAULT_SERVE_CONFIG as D } from '../serve-config.ts';
import { runMembershipAttack, type CohortSize, type MembershipAttackOptions } from './membership-attack.ts';
import { membershipMarkdown, writeMembershipOutputs } from './membership-attack-report.ts';
import { secAggCohortSum, secAggRunnerAvailable } from './membership-attack-secagg.ts';
import { loadSource, parseSyntheticSpec, researchSplit, type DataSource } from './simulation-data.ts';
import type { SimulationConfig } from './simulation-config.ts';

const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer`);
  return n;
};
const positive = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a positive number`);
  return n;
};

/** `--cohorts 10,all`: positive integers or `all` (the whole round). */
export function parseCohorts(v: string): CohortSize[] {
  const out = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => (s === 'all' ? 'all' : Number(s)));
  if (out.length === 0 || out.some((c) => c !== 'all' && !(Number.isInteger(c) && c >= 2))) {
    throw new InvalidArgumentError(`--cohorts expects a list of sizes ≥ 2 or "all", e.g. 10,all; got "${v}"`);
  }
  return out as CohortSize[];
}

/** `--epsilons 2,8`: positive numbers (may be empty: no DP rows). */
export function parseEpsilons(v: string): number[] {
  const out = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (out.some((e) => !(Number.isFinite(e) && e > 0))) throw new InvalidArgumentError(`--epsilons expects positive numbers, e.g. 2,8; got "${v}"`);
  return out;
}

function attackData(o: { data?: string; synthetic?: string }): DataSource {
  if (o.data !== undefined && o.synthetic !== undefined) throw new InvalidArgumentError('pass either --data or --synthetic, not both');
  if (o.synthetic !== undefined) return parseSyntheticSpec(o.synthetic);
  const data = o.data ?? 'ml-100k';
  if (data !== 'ml-100k') return { kind: 'movielens', path: path.resolve(data) };
  const dir = defaultMovieLensDir();
  if (!dir) throw new FlockError('not-found', 'MovieLens 100K not found at ../shared/data/ml-100k; pass its folder with --data PATH, or --synthetic USERS,ITEMS');
  return { kind: 'movielens', path: dir };
}

export function registerAttackCommand(program: Command): void {
  const attack = program.command('attack').description('privacy attacks on what the coordinator receives (in-process)');
  attack
    .command('membership')
    .description('the curious coordinator: score every item for each person of a round from what it receives (plain updates, secure-aggregation sums, DP) and report the AUC of telling their items from the rest')
    .option('--data <path>', 'MovieLens folder or "ml-100k" (default ml-100k)')
    .option('--synthetic <spec>', 'built-in generator USERS,ITEMS[,SEED] instead of --data')
    .option('--rounds <n>', 'rounds of the in-process simulation (every client each round); the last one is attacked', positiveInt('--rounds'), 5)
    .option('--cohorts <list>', 'secure-aggregation / DP cohort sizes n; "all" = the whole round', parseCohorts, [10, 'all'] as CohortSize[])
    .option('--epsilons <list>', 'target ε of the DP settings (each over --dp-rounds rounds at q = n / people)', parseEpsilons, [2, 8])
    .option('--dp-rounds <n>', 'rounds the DP plans are sized for', positiveInt('--dp-rounds'), DEFAULT_DP_ROUNDS)
    .option('--delta <d>', 'δ of the DP plans (default 1 / people^1.1)', Number)
    .option('--seed <n>', 'seed of weights, training, cohorts and noise', Number, 1)
    .option('--dim <n>', 'embedding dimension', positiveInt('--dim'), D.dim)
    .option('--local-epochs <n>', 'local epochs', positiveInt('--local-epochs'), D.round.localEpochs)
    .option('--lr <x>', 'local SGD learning rate', positive('--lr'), DEFAULT_LEARNING_RATE.mf)
    .option('--negatives <n>', 'sampled negatives per positive', positiveInt('--negatives'), D.round.negatives)
    .option('--clip <c>', 'L2 bound C on every update', positive('--clip'), D.round.clipNorm)
    .option('--server-lr <x>', 'server learning rate', positive('--server-lr'), D.serverLearningRate)
    .option('--secagg-max-cohorts <k>', 'run the protocol only for cohort sizes that make at most k cohorts (it costs seconds per round); the others are summed directly, labelled', positiveInt('--secagg-max-cohorts'), 1000000)
    .option('--no-secure-aggregation', 'compute the secure-aggregation sums directly instead of running the protocol (shared/secagg) per cohort')
    .option('--out <dir>', 'folder for table.md, table.csv, results.json', 'reports/attack/membership')
    .action(async (o) => {
      if (o.delta !== undefined && !(o.delta > 0 && o.delta < 1)) throw new InvalidArgumentError(`--delta must be in (0, 1), got ${o.delta}`);
      const source = attackData(o);
      const dataset = await loadSource(source);
      const split = researchSplit(dataset);
      const sim: SimulationConfig = {
        dim: o.dim, seed: o.seed, rounds: o.rounds, clientsPerRound: 1, localEpochs: o.localEpochs, batchSize: D.round.batchSize,
        learningRate: o.lr, negatives: o.negatives, l2: D.round.l2, clipNorm: o.clip, serverLearningRate: o.serverLr, rowNormalize: D.rowNormalize,
        evalEvery: 0, trainer: 'typed-array',
      };
      const log = (line: string) => console.error(line);
      const secure = o.secureAggregation !== false && secAggRunnerAvailable();
      if (!secure) log(o.secureAggregation === false ? 'secure-aggregation sums computed directly (--no-secure-aggregation)' : 'shared/secagg runSecAggRound is not available yet: secure-aggregation sums computed directly (the value the protocol decodes)');
      const secureSum: MembershipAttackOptions['secureSum'] = secure
        ? { label: 'shared/secagg runSecAggRound: masked inputs, unmasked decoded sum (32-bit fixed-point ring)', sum: (updates, members, numItems, dim) => secAggCohortSum(updates, members, numItems, dim, o.clip, o.seed), maxCohorts: o.secaggMaxCohorts }
        : undefined;
      const opts: MembershipAttackOptions = { sim, cohorts: o.cohorts, epsilons: o.epsilons, dpRounds: o.dpRounds, ...(o.delta !== undefined ? { delta: o.delta } : {}), ...(secureSum ? { secureSum } : {}) };
      const res = await runMembershipAttack(dataset, split, opts, undefined, log);
      const command = `npm run flock -- attack membership ${process.argv.slice(4).join(' ')}`.trim();
      console.log(membershipMarkdown(res, command));
      const { secureSum: _fn, ...rest } = opts;
      const config = { data: source.kind === 'movielens' ? dataset.name : `synthetic ${source.users},${source.items},${source.seed}`, ...rest, secureSum: res.secureSum };
      for (const f of await writeMembershipOutputs(path.resolve(o.out), res, command, config)) console.log(`wrote ${f}`);
    });
}
