import express from 'express';
import { existsSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import { EVENTS, PROTOCOL_VERSION } from '../shared/protocol/messages.ts';
import { modelNamespace } from '../shared/protocol/model-routes.ts';
import { loadDataset } from './data/load-dataset.ts';
import { restApi } from './http/rest-api.ts';
import { openModelFederation, refuseSingleModelLayout, type ModelFederation } from './model-federation.ts';
import { checkModels, type ServeConfig } from './serve-config.ts';

export interface RunningCoordinator {
  readonly url: string;
  readonly port: number;
  /** The served models, in configured order. */
  readonly federations: readonly ModelFederation[];
  close(): Promise<void>;
}

/**
 * Starts a coordinator: for each configured model, resumes its newest complete version
 * from its folder under the data directory (or writes version 0) and runs its rounds on
 * its own socket.io namespace; then serves the web app and the REST API.
 */
export async function startCoordinator(config: ServeConfig, log: Logger): Promise<RunningCoordinator> {
  const models = checkModels(config.models);
  const dataset = await loadDataset(config.dataPath);
  await refuseSingleModelLayout(config.dataDir);

  const app = express();
  app.disable('x-powered-by');
  const http: HttpServer = createServer(app);
  const io = new Server(http, { maxHttpBufferSize: 64 * 1024 * 1024, cors: { origin: true } });
  // Clients of protocol 1 joined on the main namespace: tell them to reload instead of leaving them waiting.
  io.on('connection', (socket) => {
    socket.on(EVENTS.join, () => {
      socket.emit(EVENTS.protocolError, { code: 'protocol-mismatch', message: `join a model namespace (${models.map(modelNamespace).join(', ')}); this coordinator speaks protocol ${PROTOCOL_VERSION}: reload the page` });
      socket.disconnect(true);
    });
  });
  const federations: ModelFederation[] = [];
  for (const kind of models) federations.push(await openModelFederation(io, config, kind, dataset.numItems, log));

  const startedAt = Date.now();
  app.use('/api', restApi({ federations, dataset, startedAt }));

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
  const versions = Object.fromEntries(federations.map((f) => [f.kind, f.engine.currentVersion]));
  log.info({ url, port, dataset: dataset.name, items: dataset.numItems, models, versions }, 'listening');

  return {
    url,
    port,
    federations,
    close: async () => {
      for (const f of federations) f.engine.stop();
      io.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
