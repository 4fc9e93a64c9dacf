import express, { type Request, type Response } from 'express';
import type { Dataset } from '../../shared/data/interactions.ts';
import type { ModelDescriptor } from '../../shared/model/model-registry.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import {
  PROTOCOL_VERSION,
  type CatalogResponse,
  type ModelInfoResponse,
  type RoundConfig,
} from '../../shared/protocol/messages.ts';
import type { RoundEngine } from '../rounds/round-engine.ts';
import type { CheckpointStore } from '../store/checkpoint-store.ts';

export interface RestDeps {
  readonly engine: RoundEngine;
  readonly store: CheckpointStore;
  readonly spec: ModelSpec;
  readonly descriptor: ModelDescriptor;
  readonly dataset: Dataset;
  readonly roundConfig: Omit<RoundConfig, 'seed'>;
  readonly startedAt: number;
}

function notFound(res: Response, message: string): void {
  res.status(404).json({ error: { code: 'not-found', message } });
}

/** The coordinator's REST API: health, model, weights by version (binary), rounds, catalog. */
export function restApi(d: RestDeps): express.Router {
  const api = express.Router();

  api.get('/health', (_req, res) => {
    res.json({
      ok: true,
      version: d.engine.currentVersion,
      round: d.engine.currentRound,
      clients: d.engine.connectedClients,
      uptimeSeconds: (Date.now() - d.startedAt) / 1000,
    });
  });

  api.get('/model', (_req, res) => {
    const body: ModelInfoResponse = {
      protocolVersion: PROTOCOL_VERSION,
      version: d.engine.currentVersion,
      model: d.descriptor,
      params: d.spec.params.map((p) => ({ name: p.name, shape: [...p.shape], scope: p.scope })),
      round: { ...d.roundConfig, seed: 0 },
    };
    res.json(body);
  });

  api.get('/model/weights/:version', async (req: Request, res: Response) => {
    const raw = String(req.params.version);
    const version = raw === 'latest' ? d.engine.currentVersion : Number(raw);
    if (!Number.isInteger(version) || version < 0) {
      res.status(400).json({ error: { code: 'malformed', message: `version must be a non-negative integer or "latest", got "${raw}"` } });
      return;
    }
    const bytes = await d.store.readVersion(version);
    if (!bytes) return notFound(res, `no stored weights for version ${version}`);
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.type('application/octet-stream').send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

  api.get('/rounds', async (req, res) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100));
    res.json({ rounds: await d.store.rounds(limit) });
  });

  api.get('/catalog', (_req, res) => {
    const body: CatalogResponse = { name: d.dataset.name, titles: [...d.dataset.titles] };
    res.json(body);
  });

  api.use((_req, res) => notFound(res, 'no such API route'));
  return api;
}
