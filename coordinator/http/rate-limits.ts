import { MemoryStore, rateLimit, type RateLimitRequestHandler } from 'express-rate-limit';
import type { Request } from 'express';
import { describeRate, type RateSpec } from './rate-spec.ts';

export interface AddressRateLimit {
  readonly middleware: RateLimitRequestHandler;
  /** Stops the store's cleanup timer (coordinator shutdown). */
  close(): void;
}

/**
 * At most `spec.max` requests per `spec.windowMs` from one client address (IPv6: per /56),
 * answered beyond that with 429, a Retry-After header and a JSON body
 * `{ error: { code: 'rate-limited', message } }` that says what was limited and when to retry.
 */
export function addressRateLimit(spec: RateSpec, what: string, o: { skip?: (req: Request) => boolean; onLimited?: () => void } = {}): AddressRateLimit {
  const store = new MemoryStore();
  const middleware = rateLimit({
    windowMs: spec.windowMs,
    limit: spec.max,
    store,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    ...(o.skip ? { skip: (req: Request) => o.skip!(req) } : {}),
    handler: (req, res) => {
      o.onLimited?.();
      const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const seconds = Math.max(1, Math.ceil(((reset?.getTime() ?? Date.now() + spec.windowMs) - Date.now()) / 1000));
      res.setHeader('Retry-After', String(seconds));
      res.status(429).json({ error: { code: 'rate-limited', message: `too many ${what} from this address (at most ${describeRate(spec)}): try again in ${seconds} s` } });
    },
  });
  return { middleware, close: () => store.shutdown() };
}
