import express, { type Request } from 'express';
import { CredentialRequestSchema, type CredentialResponse } from '../../shared/protocol/messages.ts';
import type { CredentialIssuer } from '../identity/credential-issuer.ts';
import { secretsEqual } from '../identity/constant-time.ts';
import { jsonBody, jsonBodyErrors } from './json-body.ts';

export interface CredentialsApiDeps {
  readonly issuer: CredentialIssuer;
  /** When set, a request must carry `{ invite }` equal to it. */
  readonly inviteSecret?: string;
  /** Runs before anything else on the route: the per-address credential rate limit. */
  readonly rateLimit: express.RequestHandler;
  readonly onIssued?: () => void;
  readonly onRefused?: (code: string) => void;
}

/**
 * POST /api/credentials: a new participant asks for an identity and gets a signed
 * credential with a fresh random participant id (shared/protocol CredentialResponse).
 * Rate-limited per address; with an invite secret configured, only those who know it
 * get one.
 */
export function credentialsApi(d: CredentialsApiDeps): express.Router {
  const api = express.Router();
  api.post('/credentials', d.rateLimit, jsonBody(), async (req: Request, res) => {
    const parsed = CredentialRequestSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      d.onRefused?.('malformed');
      res.status(400).json({ error: { code: 'malformed', message: `credential request: ${parsed.error.issues[0]?.message ?? 'invalid'} (send {} or { "invite": "…" })` } });
      return;
    }
    if (d.inviteSecret !== undefined && !secretsEqual(parsed.data.invite ?? '', d.inviteSecret)) {
      d.onRefused?.('unauthorized');
      res.status(401).json({
        error: {
          code: 'unauthorized',
          message: parsed.data.invite === undefined
            ? 'this coordinator admits participants by invitation: send { "invite": "<secret>" } with the secret its operator gave you'
            : 'the invite is not valid: ask the coordinator\'s operator for the current one',
        },
      });
      return;
    }
    const body: CredentialResponse = await d.issuer.issue();
    d.onIssued?.();
    res.setHeader('Cache-Control', 'no-store');
    res.json(body);
  });
  api.use(jsonBodyErrors);
  return api;
}
