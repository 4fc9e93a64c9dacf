import { FlockError } from '../../shared/errors.ts';

/** At most `max` requests per `windowMs` from one address. */
export interface RateSpec {
  readonly max: number;
  readonly windowMs: number;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** Parses `N/window`, e.g. `30/10m`, `1200/1m`, `5/30s`, `100/1h`. */
export function parseRateSpec(text: string, flag = 'rate'): RateSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+(?:\.\d+)?)?\s*(ms|s|sec|m|min|h)\s*$/.exec(text);
  const max = m ? Number(m[1]) : NaN;
  const windowMs = m ? Number(m[2] ?? 1) * UNITS[m[3]] : NaN;
  if (!m || !Number.isInteger(max) || max < 1 || !(windowMs >= 1000)) {
    throw new FlockError('bad-config', `${flag} must look like N/window with N ≥ 1 and a window of at least 1 s, e.g. 30/10m, 1200/1m or 5/30s; got "${text}"`);
  }
  return { max, windowMs };
}

/** `30 per 10 min`, for messages. */
export function describeRate(r: RateSpec): string {
  const w = r.windowMs;
  const window = w % 3_600_000 === 0 ? `${w / 3_600_000} h` : w % 60_000 === 0 ? `${w / 60_000} min` : `${w / 1000} s`;
  return `${r.max} per ${window}`;
}

/** `30/10m`: the flag syntax of a rate, for help texts. */
export function formatRateSpec(r: RateSpec): string {
  const w = r.windowMs;
  const window = w % 3_600_000 === 0 ? `${w / 3_600_000}h` : w % 60_000 === 0 ? `${w / 60_000}m` : w % 1000 === 0 ? `${w / 1000}s` : `${w}ms`;
  return `${r.max}/${window}`;
}
