import { Command, InvalidArgumentError } from 'commander';
import path from 'node:path';
import pino from 'pino';
import { FlockError } from '../shared/errors.ts';
import { defaultMovieLensDir } from './data/load-movielens.ts';
import { runSocketFleet } from './fleet/socket-fleet.ts';
import { DEFAULT_SERVE_CONFIG as D, type ServeConfig } from './serve-config.ts';
import { startCoordinator } from './server.ts';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};
const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};
const fraction = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError(`${name} must be in (0, 1]`);
  return n;
};

/** `--data ml-100k` is a shorthand for ../shared/data/ml-100k. */
function resolveData(data: string | undefined): string | undefined {
  if (data === undefined) return undefined;
  if (data === 'ml-100k') {
    const dir = defaultMovieLensDir();
    if (!dir) throw new FlockError('not-found', 'MovieLens 100K not found at ../shared/data/ml-100k; pass its folder with --data PATH');
    return dir;
  }
  return path.resolve(data);
}

const program = new Command('flock').description('Federated recommendation training across browsers');

program
  .command('serve')
  .description('run the coordinator: web app, REST API and federated rounds')
  .option('--host <host>', 'address to listen on', D.host)
  .option('--port <port>', 'port (0 = any free port)', int('--port'), D.port)
  .option('--data-dir <dir>', 'where versions, manifest and round log are written', D.dataDir)
  .option('--data <path>', 'MovieLens folder (100K or 1M layout) or "ml-100k"; default: built-in synthetic catalog')
  .option('--static <dir>', 'built web app to serve', D.staticDir)
  .option('--dim <n>', 'embedding dimension', int('--dim'), D.dim)
  .option('--seed <n>', 'seed for initial weights and participant sampling', int('--seed'), D.seed)
  .option('--min-clients <n>', 'eligible clients needed before a round opens', int('--min-clients'), D.minClients)
  .option('--clients-per-round <f>', 'fraction of eligible clients sampled per round', fraction('--clients-per-round'), D.clientsPerRound)
  .option('--min-per-round <n>', 'minimum participants per round', int('--min-per-round'), D.minPerRound)
  .option('--quorum <f>', 'fraction of participants whose updates a round needs', fraction('--quorum'), D.quorum)
  .option('--round-timeout <ms>', 'round deadline', int('--round-timeout'), D.roundTimeoutMs)
  .option('--round-delay <ms>', 'pause before opening a round', int('--round-delay'), D.roundDelayMs)
  .option('--max-rounds <n>', 'stop opening rounds after this many (0 = never)', int('--max-rounds'), D.maxRounds)
  .option('--local-epochs <n>', 'local epochs per round', int('--local-epochs'), D.round.localEpochs)
  .option('--batch-size <n>', 'local batch size', int('--batch-size'), D.round.batchSize)
  .option('--lr <x>', 'local SGD learning rate', positive('--lr'), D.round.learningRate)
  .option('--negatives <n>', 'sampled negatives per positive', int('--negatives'), D.round.negatives)
  .option('--clip <c>', 'L2 bound C on every update', positive('--clip'), D.round.clipNorm)
  .option('--server-lr <x>', 'server learning rate applied to the mean update', positive('--server-lr'), D.serverLearningRate)
  .option('--no-row-normalize', 'plain example-weighted FedAvg for embedding rows')
  .action(async (o) => {
    const log = pino({ base: undefined });
    const config: ServeConfig = {
      ...D,
      host: o.host,
      port: o.port,
      dataDir: path.resolve(o.dataDir),
      dataPath: resolveData(o.data),
      staticDir: o.static,
      dim: o.dim,
      seed: o.seed,
      minClients: o.minClients,
      clientsPerRound: o.clientsPerRound,
      minPerRound: o.minPerRound,
      quorum: o.quorum,
      roundTimeoutMs: o.roundTimeout,
      roundDelayMs: o.roundDelay,
      maxRounds: o.maxRounds,
      serverLearningRate: o.serverLr,
      rowNormalize: o.rowNormalize,
      round: { ...D.round, localEpochs: o.localEpochs, batchSize: o.batchSize, learningRate: o.lr, negatives: o.negatives, clipNorm: o.clip },
    };
    const running = await startCoordinator(config, log);
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down');
      void running.close().then(() => process.exit(0));
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });

program
  .command('simulate')
  .description('run a fleet of Node participants over socket.io against a running coordinator')
  .requiredOption('--url <url>', 'coordinator URL, e.g. http://127.0.0.1:8080')
  .option('--clients <n>', 'number of participants', int('--clients'), 50)
  .option('--rounds <n>', 'stop after the global version advanced this many times', int('--rounds'), 20)
  .option('--data <path>', 'MovieLens folder or "ml-100k" (must match the coordinator\'s --data)')
  .option('--seed <n>', 'seed for client ids and evaluation negatives', int('--seed'), 1)
  .option('--backend <name>', 'TensorFlow.js backend in Node: wasm or cpu', 'wasm')
  .option('--json <file>', 'also write the report as JSON')
  .action(async (o) => {
    if (o.backend !== 'wasm' && o.backend !== 'cpu') throw new InvalidArgumentError('--backend must be wasm or cpu');
    const t0 = Date.now();
    const report = await runSocketFleet({
      url: o.url.replace(/\/$/, ''),
      clients: o.clients,
      rounds: o.rounds,
      dataPath: resolveData(o.data),
      seed: o.seed,
      backend: o.backend,
      log: (line) => console.log(line),
    });
    const first = report.history[0];
    const last = report.history[report.history.length - 1];
    console.log(
      `done: ${report.clients} clients, versions ${report.startVersion} → ${report.endVersion} in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
        `HR@10 ${first.hr10.toFixed(4)} → ${last.hr10.toFixed(4)}, NDCG@10 ${first.ndcg10.toFixed(4)} → ${last.ndcg10.toFixed(4)}; ` +
        `${(report.bytesSent / 1e6).toFixed(1)} MB uploaded, ${report.rejections} rejections`,
    );
    if (o.json) {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(o.json, JSON.stringify(report, null, 2));
    }
    process.exit(0);
  });

program.parseAsync().catch((err: unknown) => {
  const code = err instanceof FlockError ? ` [${err.code}]` : '';
  console.error(`flock: ${err instanceof Error ? err.message : String(err)}${code}`);
  process.exit(1);
});
