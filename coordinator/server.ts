import express from 'express';
import { existsSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import { createModel } from '../shared/model/model-registry.ts';
import { EVENTS, MAX_CONTROL_MESSAGE_BYTES, PROTOCOL_VERSION } from '../shared/protocol/messages.ts';
import { modelNamespace } from '../shared/protocol/model-routes.ts';
import { maxEncodedUpdateBytes } from '../shared/update/tensor-codec.ts';
import { loadDataset } from './data/load-dataset.ts';
import { adminApi, hasOperatorToken } from './http/admin-api.ts';
import { cors, isWildcardHost, OriginPolicy } from './http/allowed-origins.ts';
import { credentialsApi } from './http/credentials-api.ts';
import { addressRateLimit } from './http/rate-limits.ts';
import { restApi } from './http/rest-api.ts';
import { securityHeaders } from './http/security-headers.ts';
import { SocketAdmission } from './http/socket-admission.ts';
import { ConnectionRateLimiter, guardSocket } from './http/socket-guard.ts';
import { CredentialIssuer } from './identity/credential-issuer.ts';
import { resolveOperatorToken } from './identity/operator-token.ts';
import { requireCredential } from './identity/socket-credential.ts';
import { CoordinatorMetrics } from './metrics/coordinator-metrics.ts';
import { openModelFederation, refuseSingleModelLayout, type ModelFederation } from './model-federation.ts';
import { checkSecureAggregation } from './rounds/secure-round-settings.ts';
import { secAggEventLimits } from '../shared/protocol/secagg-events.ts';
import { checkModels, planServeDp, type ServeConfig } from './serve-config.ts';
import { catalogDescriptor, DEFAULT_CATALOG_SETTINGS, type CatalogSettings } from './catalog/catalog-descriptor.ts';
import { CatalogStore } from './catalog/catalog-store.ts';
import { mkdir } from 'node:fs/promises';

export interface RunningCoordinator {
  readonly url: string;
  readonly port: number;
  /** The served models, in configured order. */
  readonly federations: readonly ModelFederation[];
  /** Issues and verifies participant credentials (and rotates their keys). */
  readonly issuer: CredentialIssuer;
  /** This coordinator's Prometheus metrics (its own registry). */
  readonly metrics: CoordinatorMetrics;
  /** Origins whose pages may use the coordinator (after listening: the defaults are resolved). */
  readonly allowedOrigins: readonly string[];
  close(): Promise<void>;
}

/**
 * Room above the largest update for socket.io's own framing of a message; anything
 * bigger is refused by the transport (ws maxPayload) before it is buffered.
 */
export const SOCKET_BUFFER_MARGIN_BYTES = 16 * 1024;

/**
 * Starts a coordinator: for each configured model, resumes its newest complete version
 * from its folder under the data directory (or writes version 0) and runs its rounds on
 * its own socket.io namespace; then serves the web app, the REST API and /metrics.
 *
 * The edge, in the order a request meets it:
 *   socket.io  handshake: Origin allowed, connections per address (allowRequest) →
 *              transport: frames over the largest update + margin refused unbuffered →
 *              model namespace: credential (socket.data.participantId) →
 *              every message: rate per connection, known event, size per event
 *   HTTP       metrics count → security headers (helmet, CSP) → /api: CORS and Origin
 *              check → rate limit per address → JSON body limits → routes;
 *              /api/admin behind the operator token
 */
export async function startCoordinator(config: ServeConfig, log: Logger, catalogSettings: CatalogSettings = DEFAULT_CATALOG_SETTINGS): Promise<RunningCoordinator> {
  const models = checkModels(config.models);
  planServeDp(config); // an impossible DP plan is refused before anything is written
  checkSecureAggregation(config); // so is an aggregation secure aggregation cannot run with
  const dataset = await loadDataset(config.dataPath);
  await refuseSingleModelLayout(config.dataDir);
  // The catalog: the data set's items plus what the operator added or retired (coordinator/catalog/).
  await mkdir(config.dataDir, { recursive: true });
  const catalog = await CatalogStore.open(config.dataDir, dataset);

  // Per-message size limits, known before any engine runs.
  const largestCatalog = { ...catalog.view, numItems: catalog.maxItems, features: Array.from({ length: catalog.maxItems }, () => ['any']) };
  // Sized for the largest catalog allowed, so items added later never make an honest update too large.
  const updateLimit = new Map(models.map((kind) => [kind, maxEncodedUpdateBytes(createModel(catalogDescriptor(config, kind, largestCatalog, catalogSettings)).spec)]));
  const socketBufferBytes = Math.max(MAX_CONTROL_MESSAGE_BYTES, ...updateLimit.values()) + SOCKET_BUFFER_MARGIN_BYTES;

  const issuer = await CredentialIssuer.open(config.dataDir, log, { ttlSeconds: config.credentialTtlSeconds });
  const operatorToken = await resolveOperatorToken(config.operatorToken, config.dataDir, log);
  const metrics = new CoordinatorMetrics();
  const origins = new OriginPolicy(config.allowedOrigins);

  // ---- HTTP
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.use(metrics.http);
  app.use(securityHeaders());
  app.get('/metrics', metrics.handler);

  const apiLimit = addressRateLimit(config.apiRate, 'requests', { onLimited: () => metrics.refused('rate-limited') });
  const credentialLimit = addressRateLimit(config.credentialRate, 'credential requests', {
    // The operator (a fleet it runs, a load test) may mint credentials beyond the public limit.
    skip: (req) => hasOperatorToken(req.headers.authorization, operatorToken),
    onLimited: () => metrics.refused('rate-limited'),
  });
  app.use('/api', cors(origins, () => metrics.refused('forbidden-origin')));
  app.use('/api', credentialsApi({
    issuer,
    inviteSecret: config.inviteSecret,
    rateLimit: credentialLimit.middleware,
    onIssued: () => metrics.credentialIssued(),
    onRefused: (code) => metrics.refused(code === 'unauthorized' ? 'unauthorized' : 'malformed'),
  }));
  app.use('/api', apiLimit.middleware);
  app.use('/api/admin', adminApi({ token: operatorToken, issuer, catalog, log, onRefused: () => metrics.refused('unauthorized') }));

  // ---- socket.io
  const http: HttpServer = createServer(app);
  const admission = new SocketAdmission(origins, config.maxConnectionsPerAddress, config.trustProxy, (why) => metrics.refused(why === 'forbidden-origin' ? why : 'rate-limited'));
  const io = new Server(http, {
    // Participants speak websocket only: no long-polling surface (nor its CORS).
    transports: ['websocket'],
    serveClient: false,
    maxHttpBufferSize: socketBufferBytes,
    pingInterval: config.heartbeatIntervalMs,
    pingTimeout: config.heartbeatTimeoutMs,
    allowRequest: admission.allowRequest,
  });
  admission.track(io);
  io.engine.on('connection', (conn: EngineConnection) => {
    conn.on('packet', (p) => metrics.socketTraffic('in', packetBytes(p.data)));
    conn.on('packetCreate', (p) => metrics.socketTraffic('out', packetBytes(p.data)));
    cutOversizeFrames(conn, () => metrics.refused('too-large'));
  });
  const messageRate = new ConnectionRateLimiter(config.messageRate);
  const onGuardRefusal = (kind: string | null) => (r: { code: 'malformed' | 'too-large' | 'rate-limited'; event: string; bytes: number }) => {
    metrics.refused(r.code);
    if (kind && r.event === EVENTS.update && r.code === 'too-large') metrics.updateRejected(kind, 'too-large', r.bytes);
  };

  // Clients of protocol 1 joined on the main namespace: tell them to reload instead of leaving them waiting.
  guardSocket(io.of('/'), { [EVENTS.join]: MAX_CONTROL_MESSAGE_BYTES }, messageRate, onGuardRefusal(null));
  io.on('connection', (socket) => {
    socket.on(EVENTS.join, () => {
      socket.emit(EVENTS.protocolError, { code: 'protocol-mismatch', message: `join a model namespace (${models.map(modelNamespace).join(', ')}); this coordinator speaks protocol ${PROTOCOL_VERSION}: reload the page` });
      socket.disconnect(true);
    });
  });
  for (const kind of models) {
    const nsp = io.of(modelNamespace(kind));
    requireCredential(nsp, issuer, () => metrics.refused('unauthorized'));
    guardSocket(nsp, { [EVENTS.join]: MAX_CONTROL_MESSAGE_BYTES, [EVENTS.eligibility]: MAX_CONTROL_MESSAGE_BYTES, [EVENTS.update]: updateLimit.get(kind)!, ...(config.secureAggregation ? secAggEventLimits(updateLimit.get(kind)!) : {}) }, messageRate, onGuardRefusal(kind));
  }

  const federations: ModelFederation[] = [];
  for (const kind of models) federations.push(await openModelFederation(io, config, kind, catalog.view, log, metrics, catalogSettings));
  // Each catalog change becomes a new version of every model, written between rounds.
  catalog.onChange((view) => {
    for (const f of federations) f.engine.requestModel(catalogDescriptor(config, f.kind, view, catalogSettings));
  });
  metrics.watch(federations);

  const startedAt = Date.now();
  app.use('/api', restApi({ federations, dataset, catalog, startedAt, onWeightsServed: (kind, bytes) => metrics.weightsServed(kind, bytes) }));

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
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  origins.listening(config.host, port);
  if (!config.allowedOrigins && isWildcardHost(config.host)) {
    log.warn({ allowedOrigins: origins.list }, 'listening on every interface: pages served under any other name than these cannot connect; list their origins with --allowed-origins');
  }
  const versions = Object.fromEntries(federations.map((f) => [f.kind, f.engine.currentVersion]));
  log.info({ url, port, dataset: dataset.name, items: dataset.numItems, models, versions, allowedOrigins: origins.list, socketBufferBytes }, 'listening');

  return {
    url,
    port,
    federations,
    issuer,
    metrics,
    get allowedOrigins() {
      return origins.list;
    },
    close: async () => {
      await Promise.all(federations.map((f) => f.engine.stop())); // lets a round being saved finish
      apiLimit.close();
      credentialLimit.close();
      io.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** The parts of an engine.io connection the coordinator uses. */
interface EngineConnection {
  on(e: 'packet' | 'packetCreate', fn: (p: { data?: unknown }) => void): void;
  readonly transport?: { readonly socket?: { on?(e: 'error', fn: (err: { code?: string }) => void): void; terminate?(): void } };
}

/**
 * ws refuses a frame over maxPayload from its header, without buffering it, but then
 * politely drains what the peer keeps sending while it waits up to 30 s for a close
 * handshake. A peer that sent an oversized frame is cut off at once instead.
 */
function cutOversizeFrames(conn: EngineConnection, onCut: () => void): void {
  const ws = conn.transport?.socket;
  ws?.on?.('error', (err) => {
    if (err.code !== 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return;
    onCut();
    ws.terminate?.();
  });
}

/** Size of one engine.io packet's payload: binary by length, text by its UTF-8 length. */
function packetBytes(data: unknown): number {
  if (typeof data === 'string') return Buffer.byteLength(data, 'utf8');
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}
