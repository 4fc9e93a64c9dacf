import type { RequestHandler } from 'express';
import { FlockError } from '../../shared/errors.ts';

/** A bare origin (`scheme://host[:port]`), normalised as browsers send it; anything else is refused. */
export function parseOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new FlockError('bad-config', `"${text}" is not an origin: write it as scheme://host[:port], e.g. http://127.0.0.1:5173`);
  }
  const bare = (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash && !url.username && !url.password;
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !bare) {
    throw new FlockError('bad-config', `"${text}" is not an origin: write it as http(s)://host[:port], without a path, e.g. https://flock.example.org`);
  }
  return url.origin;
}

/** `--allowed-origins a,b`: one or more origins. */
export function parseOriginList(text: string): string[] {
  const list = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(parseOrigin);
  if (list.length === 0) throw new FlockError('bad-config', '--allowed-origins needs at least one origin, e.g. http://127.0.0.1:8080');
  return [...new Set(list)];
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/** True when the coordinator listens on every interface (and so cannot know the name its pages are served under). */
export const isWildcardHost = (host: string): boolean => WILDCARD_HOSTS.has(host);

/**
 * The origins of the coordinator's own pages: http://<host>:<port>, with the loopback
 * names (127.0.0.1, localhost, [::1]) standing in for each other. A coordinator on every
 * interface can only guess its loopback names: pages served under another name need
 * --allowed-origins.
 */
export function defaultOrigins(host: string, port: number): string[] {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const names = isWildcardHost(host) || LOOPBACK_NAMES.includes(h) ? LOOPBACK_NAMES : [h];
  return names.map((n) => new URL(`http://${n}:${port}`).origin);
}

/**
 * Which web origins may use the coordinator from a browser: open its sockets, read
 * its REST answers (CORS) and POST to it. Requests without an Origin header (Node
 * clients, curl) are not browsers acting for another site and pass; they are still
 * bound by their credential.
 */
export class OriginPolicy {
  private origins: ReadonlySet<string>;

  /** `configured` undefined: the coordinator's own origin(s), known once it listens. */
  constructor(private readonly configured?: readonly string[]) {
    this.origins = new Set(configured ?? []);
  }

  /** Called once the port is known (--port 0 picks one). */
  listening(host: string, port: number): void {
    if (!this.configured) this.origins = new Set(defaultOrigins(host, port));
  }

  get list(): readonly string[] {
    return [...this.origins];
  }

  /** True when a request with this Origin header may proceed (no header: not a cross-site browser request). */
  allows(origin: string | undefined): boolean {
    return origin === undefined || this.origins.has(origin);
  }
}

export const forbiddenOriginMessage = (origin: string): string =>
  `pages from ${origin} may not use this coordinator; its operator can allow them with --allowed-origins`;

/**
 * CORS for the REST API: allowed origins get `Access-Control-Allow-Origin` (and
 * preflights an answer); any other origin gets no CORS headers, and anything but a
 * GET/HEAD from it (a POST, a preflight) is refused with 403 forbidden-origin before
 * it reaches a route: a foreign page cannot even spend another site's rate limit.
 */
export function cors(policy: OriginPolicy, onRefused: () => void = () => {}): RequestHandler {
  return (req, res, next) => {
    const origin = req.headers.origin;
    res.vary('Origin');
    if (origin === undefined) return next();
    if (!policy.allows(origin)) {
      if (req.method === 'GET' || req.method === 'HEAD') return next();
      onRefused();
      res.status(403).json({ error: { code: 'forbidden-origin', message: forbiddenOriginMessage(origin) } });
      return;
    }
    res.setHeader('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type');
      res.setHeader('Access-Control-Max-Age', '600');
      res.status(204).end();
      return;
    }
    next();
  };
}
