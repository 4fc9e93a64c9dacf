import express from 'express';
import type { Logger } from 'pino';
import { FlockError } from '../../shared/errors.ts';
import type { CatalogStore, CatalogView } from './catalog-store.ts';

/** The catalog as the operator lists it: every item with its features and whether it is retired. */
export function catalogListing(view: CatalogView): { version: number; items: { id: number; title: string; features: readonly string[]; retired: boolean }[] } {
  const retired = new Set(view.retired);
  return { version: view.version, items: view.titles.map((title, id) => ({ id, title, features: view.features[id], retired: retired.has(id) })) };
}

/**
 * The operator's catalog routes, mounted under /api/admin behind the operator token
 * (admin-api.ts). Every change is written to the data dir, then becomes a new version
 * of every model between rounds (the round engine's requestModel).
 *
 *   GET  /catalog                    every item: id, title, features, retired
 *   POST /catalog/items              {title, features?} → {id, version}; 400 'malformed' on bad input
 *   POST /catalog/items/:id/retire   → {id, version}; 404 unknown id, 409 already retired
 */
export function catalogAdminRoutes(catalog: CatalogStore, log: Logger): express.Router {
  const api = express.Router();
  api.get('/catalog', (_req, res) => {
    res.json(catalogListing(catalog.view));
  });
  api.post('/catalog/items', async (req, res) => {
    const { id, view } = await catalog.add(req.body);
    log.info({ id, title: view.titles[id], catalogVersion: view.version }, 'admin: catalog item added');
    res.status(201).json({ id, version: view.version });
  });
  api.post('/catalog/items/:id/retire', async (req, res) => {
    const raw = String(req.params.id);
    if (!/^\d{1,9}$/.test(raw)) throw new FlockError('malformed', `item id must be a non-negative integer, got "${raw.slice(0, 20)}"`);
    const { id, view } = await catalog.retire(Number(raw));
    log.info({ id, catalogVersion: view.version }, 'admin: catalog item retired');
    res.json({ id, version: view.version });
  });
  return api;
}
