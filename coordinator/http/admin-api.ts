import express, { type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { FlockError } from '../../shared/errors.ts';
import type { CredentialIssuer } from '../identity/credential-issuer.ts';
import { bearerToken, secretsEqual } from '../identity/constant-time.ts';
import { jsonBody, jsonBodyErrors } from './json-body.ts';
import { catalogAdminRoutes } from '../catalog/catalog-admin-routes.ts';
import type { CatalogStore } from '../catalog/catalog-store.ts';

/** True when the request carries `Authorization: Bearer <operator token>`. */
export const hasOperatorToken = (header: string | undefined, token: string): boolean => {
  const presented = bearerToken(header);
  return presented !== null && secretsEqual(presented, token);
};

/** Refuses a request without the operator token: 401 unauthorized. */
export function requireOperator(token: string, onRefused: () => void = () => {}): RequestHandler {
  return (req, res, next) => {
    if (hasOperatorToken(req.headers.authorization, token)) return next();
    onRefused();
    res.setHeader('WWW-Authenticate', 'Bearer realm="flock-admin"');
    res.status(401).json({
      error: {
        code: 'unauthorized',
        message: 'operator routes need "Authorization: Bearer <token>": the token is --operator-token, FLOCK_OPERATOR_TOKEN, or the operator-token file in the data dir (its path is in the start-up log)',
      },
    });
  };
}

/**
 * The operator's API: everything that changes the coordinator's state outside rounds,
 * behind the operator token.
 *
 *   GET  /api/admin/keys                credential signing keys (no private halves)
 *   POST /api/admin/keys/rotate         add a new signing key; older keys keep verifying
 *   POST /api/admin/keys/:kid/retire    refuse credentials signed by that key from now on
 *   GET  /api/admin/catalog             the catalog (coordinator/catalog/catalog-admin-routes.ts)
 *   POST /api/admin/catalog/items       add an item {title, features}
 *   POST /api/admin/catalog/items/:id/retire
 */
export function adminApi(d: { token: string; issuer: CredentialIssuer; catalog?: CatalogStore; log: Logger; onRefused?: () => void }): express.Router {
  const api = express.Router();
  api.use(requireOperator(d.token, d.onRefused), jsonBody());

  api.get('/keys', async (_req, res) => {
    res.json({ keys: await d.issuer.list() });
  });

  api.post('/keys/rotate', async (_req, res) => {
    const rotated = await d.issuer.rotate();
    d.log.info({ kid: rotated.kid }, 'admin: credential key rotated');
    res.json({ rotated, keys: await d.issuer.list() });
  });

  api.post('/keys/:kid/retire', async (req, res) => {
    const retired = await d.issuer.retire(String(req.params.kid));
    d.log.info({ kid: retired.kid }, 'admin: credential key retired');
    res.json({ retired, keys: await d.issuer.list() });
  });

  if (d.catalog) api.use(catalogAdminRoutes(d.catalog, d.log));

  api.use(jsonBodyErrors);
  api.use(((err, _req, res, next) => {
    if (!(err instanceof FlockError)) return next(err);
    const status = err.code === 'not-found' ? 404 : err.code === 'bad-config' || err.code === 'duplicate' ? 409 : err.code === 'malformed' ? 400 : err.code === 'too-large' ? 413 : 500;
    res.status(status).json({ error: { code: err.code, message: err.message } });
  }) as express.ErrorRequestHandler);
  return api;
}
