/**
 * A token bucket: `burst` tokens, refilled at `perSecond`; each message takes one.
 * The clock is a parameter so the bucket is a pure value a test can drive.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly perSecond: number, private readonly burst: number, now: number) {
    if (!(perSecond > 0) || !(burst >= 1)) throw new RangeError(`token bucket needs a positive rate and a burst ≥ 1, got ${perSecond}/s burst ${burst}`);
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token if there is one; false means the caller is over its rate. */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.perSecond);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
