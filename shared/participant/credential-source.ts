import { FlockError } from '../errors.ts';
import { CredentialResponseSchema, type CredentialRequest, type CredentialResponse } from '../protocol/messages.ts';
import type { ParticipantStore } from './participant-store.ts';

/** Where a participant gets the credential its socket handshake carries. */
export interface CredentialSource {
  /** The current credential, asking the coordinator for one only when none is kept or it is about to expire. */
  get(): Promise<string>;
  /** Drops the kept credential and asks for a new one (the coordinator refused the old: rotated key, expired, another coordinator). */
  renew(): Promise<string>;
}

/** The store key a credential is kept under (IndexedDB in the browser, memory in the fleet). */
export const CREDENTIAL_META_KEY = 'credential';
/** Renew this long before expiry, so a round is never joined on a credential about to lapse. */
const RENEW_BEFORE_MS = 24 * 3600 * 1000;

export interface CoordinatorCredentialOptions {
  /** The operator's invite secret, when the coordinator requires one. */
  readonly invite?: string;
  readonly fetch?: typeof fetch;
}

/**
 * Credentials issued by the coordinator (POST /api/credentials) and kept in the
 * participant's own store. One source serves every model of a device: concurrent
 * callers share one request, so a page never holds two identities.
 */
export function coordinatorCredentials(serverUrl: string, store: ParticipantStore, opts: CoordinatorCredentialOptions = {}): CredentialSource {
  let inFlight: Promise<string> | null = null;
  const request = async (): Promise<string> => {
    const body: CredentialRequest = opts.invite ? { invite: opts.invite } : {};
    const doFetch = opts.fetch ?? fetch;
    let res: Response;
    try {
      res = await doFetch(`${serverUrl}/api/credentials`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    } catch (err) {
      throw new FlockError('not-found', `the coordinator at ${serverUrl} is unreachable: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!res.ok) {
      const detail = await res.json().then((b: { error?: { code?: string; message?: string } }) => b.error, () => undefined);
      const code = res.status === 429 ? 'rate-limited' : res.status === 401 || res.status === 403 ? 'unauthorized' : 'malformed';
      throw new FlockError(code, `the coordinator refused a credential (HTTP ${res.status}${detail?.message ? `: ${detail.message}` : ''})`);
    }
    const issued = CredentialResponseSchema.parse(await res.json());
    await store.putMeta<CredentialResponse>(CREDENTIAL_META_KEY, issued);
    return issued.token;
  };
  const once = (fn: () => Promise<string>): Promise<string> => {
    inFlight ??= fn().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
  return {
    get: () =>
      once(async () => {
        const kept = CredentialResponseSchema.safeParse(await store.getMeta(CREDENTIAL_META_KEY));
        if (kept.success && kept.data.expiresAt - RENEW_BEFORE_MS > Date.now()) return kept.data.token;
        return request();
      }),
    renew: () => once(request),
  };
}
