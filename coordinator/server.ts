import express from 'express';
import { existsSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import { FlockError } from '../shared/errors.ts';
import { createModel, type ModelDescriptor } from '../shared/model/model-registry.ts';
import { initParams } from '../shared/model/init-params.ts';
import { fromWireTensors, toWireTensors } from '../shared/update/tensor-codec.ts';
import { loadDataset } from './data/load-dataset.ts';
import { restApi } from './http/rest-api.ts';
import { RoundEngine } from './rounds/round-engine.ts';
import { modelDescriptor, type ServeConfig } from './serve-config.ts';
import { CheckpointStore } from './store/checkpoint-store.ts';

export interface RunningCoordinator {
  readonly url: string;
  readonly port: number;
  readonly engine: RoundEngine;
  close(): Promise<void>;
}

/**
 * Starts a coordinator: resumes the newest complete version from the data directory
 * (or writes version 0), then serves the web app, the REST API and socket.io rounds.
 */
export async function startCoordinator(config: ServeConfig, log: Logger): Promise<RunningCoordinator> {
  const dataset = await loadDataset(config.dataPath);
  const descriptor: ModelDescriptor = modelDescriptor(config, dataset.numItems);
  const model = createModel(descriptor);
  const store = await CheckpointStore.open(config.dataDir, { onWarning: (m) => log.warn(m) });

  let latest = await store.latest();
  if (latest && latest.modelKind !== model.spec.kind) {
    throw new FlockError('bad-config', `data dir ${config.dataDir} holds a '${latest.modelKind}' model; this coordinator serves '${model.spec.kind}'. Use another --data-dir.`);
  }
  if (latest) {
    const stored = new Map(latest.tensors.map((t) => [t.name, t.shape.join('×')]));
    const mismatch = model.spec.params.find((p) => p.scope === 'global' && stored.get(p.name) !== p.shape.join('×'));
    if (mismatch) {
      throw new FlockError('bad-config', `data dir ${config.dataDir} holds '${mismatch.name}' of shape ${stored.get(mismatch.name) ?? 'none'}, this configuration needs ${mismatch.shape.join('×')} (other --data, --dim or model settings?). Use another --data-dir.`);
    }
  }
  if (!latest) {
    const globals = initParams(model.spec, 'global', config.seed);
    latest = { version: 0, round: 0, modelKind: model.spec.kind, tensors: toWireTensors(model.spec, globals) };
    await store.save(latest);
    log.info({ dataDir: config.dataDir }, 'initialised version 0');
  } else {
    log.info({ version: latest.version, round: latest.round, dataDir: config.dataDir }, 'resumed from checkpoint');
  }
  const lastRound = Math.max(latest.round, ...((await store.rounds(1)) as { round: number }[]).map((r) => r.round));

  const app = express();
  app.disable('x-powered-by');
  const http: HttpServer = createServer(app);
  const io = new Server(http, { maxHttpBufferSize: 64 * 1024 * 1024, cors: { origin: true } });
  const engine = new RoundEngine(io, store, model.spec, descriptor, config, log, {
    version: latest.version,
    round: lastRound,
    globals: fromWireTensors(latest.tensors),
  });
  const startedAt = Date.now();
  app.use('/api', restApi({ engine, store, spec: model.spec, descriptor, dataset, roundConfig: config.round, startedAt }));

  const staticDir = path.resolve(config.staticDir);
  if (existsSync(path.join(staticDir, 'index.html'))) app.use(express.static(staticDir));
  else {
    log.warn({ staticDir }, 'web app not built; run `npm run build`');
    app.get('/', (_req, res) => res.type('text').send('Flock coordinator is running. The web app is not built: run `npm run build`.'));
  }

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => resolve());
  });
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host}:${port}`;
  log.info({ url, port, dataset: dataset.name, items: dataset.numItems, version: engine.currentVersion }, 'listening');

  return {
    url,
    port,
    engine,
    close: async () => {
      engine.stop();
      io.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
