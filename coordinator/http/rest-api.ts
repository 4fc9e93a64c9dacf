import express, { type Request, type Response } from 'express';
import type { Dataset } from '../../shared/data/interactions.ts';
import { topKOfScores } from '../../shared/eval/top-k.ts';
import {
  PROTOCOL_VERSION,
  type CatalogResponse,
  type HealthResponse,
  type ModelInfoResponse,
  type ModelsResponse,
} from '../../shared/protocol/messages.ts';
import type { ModelFederation } from '../model-federation.ts';
import type { CatalogStore } from '../catalog/catalog-store.ts';

export interface RestDeps {
  readonly federations: readonly ModelFederation[];
  readonly dataset: Dataset;
  /** The live catalog (items added and retired by the operator); absent: the data set's, fixed. */
  readonly catalog?: CatalogStore;
  readonly startedAt: number;
  /** Told the size of every weights file served (metrics). */
  readonly onWeightsServed?: (kind: string, bytes: number) => void;
}

/** The catalog's public popularity order (its source data's interaction counts), most popular first. */
function catalogPopularity(dataset: Dataset): number[] {
  const counts = new Float64Array(dataset.numItems);
  for (const i of dataset.interactions) counts[i.item]++;
  return topKOfScores(counts, Math.min(100, dataset.numItems));
}

function notFound(res: Response, message: string): void {
  res.status(404).json({ error: { code: 'not-found', message } });
}

function modelInfo(f: ModelFederation): ModelInfoResponse {
  return {
    protocolVersion: PROTOCOL_VERSION,
    version: f.engine.currentVersion,
    model: f.descriptor,
    params: f.spec.params.map((p) => ({ name: p.name, shape: [...p.shape], scope: p.scope })),
    round: { ...f.engine.settings, seed: 0 },
    // Under differential privacy: spent (ε, δ) over every published version, the budget and whether it is exhausted.
    privacy: f.engine.privacy,
  };
}

/**
 * The coordinator's REST API: health, the served models, and per model its info,
 * weights by version (binary) and round log; plus the catalog.
 *
 *   GET /api/health
 *   GET /api/models
 *   GET /api/models/:kind
 *   GET /api/models/:kind/weights/:version|latest
 *   GET /api/models/:kind/rounds?limit=N
 *   GET /api/catalog
 */
export function restApi(d: RestDeps): express.Router {
  const api = express.Router();
  const byKind = new Map<string, ModelFederation>(d.federations.map((f) => [f.kind, f]));
  const served = d.federations.map((f) => f.kind).join(', ');

  api.get('/health', (_req, res) => {
    const body: HealthResponse = {
      ok: true,
      uptimeSeconds: (Date.now() - d.startedAt) / 1000,
      models: Object.fromEntries(
        d.federations.map((f) => [f.kind, { version: f.engine.currentVersion, round: f.engine.currentRound, clients: f.engine.connectedClients }]),
      ),
    };
    res.json(body);
  });

  api.get('/models', (_req, res) => {
    const body: ModelsResponse = { protocolVersion: PROTOCOL_VERSION, models: d.federations.map(modelInfo) };
    res.json(body);
  });

  const model = express.Router({ mergeParams: true });
  api.use('/models/:kind', (req: Request, res: Response, next) => {
    const f = byKind.get(String(req.params.kind));
    if (!f) return notFound(res, `this coordinator does not serve model '${String(req.params.kind)}' (it serves ${served})`);
    res.locals.federation = f;
    next();
  }, model);

  model.get('/', (_req, res) => {
    res.json(modelInfo(res.locals.federation as ModelFederation));
  });

  model.get('/weights/:version', async (req: Request, res: Response) => {
    const f = res.locals.federation as ModelFederation;
    const raw = String(req.params.version);
    const version = raw === 'latest' ? f.engine.currentVersion : Number(raw);
    if (!Number.isInteger(version) || version < 0) {
      res.status(400).json({ error: { code: 'malformed', message: `version must be a non-negative integer or "latest", got "${raw}"` } });
      return;
    }
    const bytes = await f.store.readVersion(version);
    if (!bytes) return notFound(res, `no stored ${f.kind} weights for version ${version}`);
    // A numbered version never changes; "latest" moves with every round.
    res.setHeader('Cache-Control', raw === 'latest' ? 'no-cache' : 'public, max-age=31536000, immutable');
    res.type('application/octet-stream').send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (req.method !== 'HEAD') d.onWeightsServed?.(f.kind, bytes.byteLength);
  });

  model.get('/rounds', async (req, res) => {
    const f = res.locals.federation as ModelFederation;
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100));
    res.json({ rounds: await f.store.rounds(limit) });
  });

  const popular = catalogPopularity(d.dataset);
  api.get('/catalog', (_req, res) => {
    const view = d.catalog?.view;
    const body: CatalogResponse = view
      ? { name: view.name, titles: [...view.titles], popular: popular.filter((i) => !view.retired.includes(i)), version: view.version, features: view.features.map((f) => [...f]), retired: [...view.retired] }
      : { name: d.dataset.name, titles: [...d.dataset.titles], popular };
    res.setHeader('Cache-Control', 'no-cache');
    res.json(body);
  });

  api.use((_req, res) => notFound(res, 'no such API route'));
  return api;
}
