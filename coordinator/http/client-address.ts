import type { IncomingMessage } from 'node:http';

/**
 * The address a request came from, trusting `trustProxy` reverse proxies in front of
 * the coordinator (each appends the address it saw to X-Forwarded-For). The same rule
 * as express's numeric 'trust proxy', so REST and socket limits count one client alike.
 */
export function clientAddress(req: IncomingMessage, trustProxy: number): string {
  const direct = req.socket.remoteAddress ?? 'unknown';
  if (trustProxy <= 0) return direct;
  const header = req.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const chain = [direct, ...forwarded.reverse()];
  return chain[Math.min(trustProxy, chain.length - 1)];
}
