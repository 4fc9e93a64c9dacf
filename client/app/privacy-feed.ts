import type { ModelKind } from '../../shared/model/model-registry.ts';
import { modelApiPath } from '../../shared/protocol/model-routes.ts';
import { parsePrivacyAnswer, PRIVACY_LOADING, type PrivacyState } from './privacy-text.ts';

export interface PrivacyFeedOptions {
  readonly server: string;
  readonly kind: ModelKind;
  /** What the tab that trained before this one showed, carried on until the first answer. */
  readonly initial?: PrivacyState;
  /** The state changed. */
  readonly onChange: (state: PrivacyState) => void;
  /** Injected in tests; the page's fetch otherwise. */
  readonly fetch?: typeof fetch;
  /** First retry after a failure (ms), doubling up to maxRetryMs. */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
  readonly timeoutMs?: number;
}

/**
 * Keeps one model's privacy guarantee current: GET /api/models/:kind, validated
 * (privacy-text.ts parsePrivacyAnswer), whenever the trainer learns of a new model
 * version — the spent ε moves only when a round is released, which makes a new version.
 * One request at a time; a refresh asked for meanwhile runs once after it, so answers
 * never arrive out of order. A failure shows the error state (no number) and is retried
 * with backoff until an answer validates or a new version asks again.
 */
export class PrivacyFeed {
  private current: PrivacyState;
  private running = false;
  private pending = false;
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;

  constructor(private readonly opts: PrivacyFeedOptions) {
    this.current = opts.initial ?? PRIVACY_LOADING;
  }

  get state(): PrivacyState {
    return this.current;
  }

  /** Fetch again (now, or right after the request in flight). */
  refresh(): void {
    if (this.stopped) return;
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.running) this.pending = true;
    else void this.run();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      do {
        this.pending = false;
        const next = await this.fetchOnce();
        if (this.stopped) return;
        this.set(next);
      } while (this.pending && !this.stopped);
    } finally {
      this.running = false;
    }
    if (this.current.status === 'error' && !this.stopped) {
      const base = this.opts.retryMs ?? 10_000;
      const delay = Math.min(base * 2 ** this.failures, this.opts.maxRetryMs ?? 120_000);
      this.failures++;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.refresh();
      }, delay);
    } else {
      this.failures = 0;
    }
  }

  private async fetchOnce(): Promise<PrivacyState> {
    const { server, kind } = this.opts;
    const get = this.opts.fetch ?? fetch;
    try {
      const res = await get(`${server}${modelApiPath(kind)}`, { signal: AbortSignal.timeout(this.opts.timeoutMs ?? 15_000) });
      if (!res.ok) return { status: 'error', message: `the coordinator answered HTTP ${res.status}` };
      let body: unknown;
      try {
        body = await res.json();
      } catch {
        return { status: 'error', message: "the coordinator's answer is not JSON" };
      }
      return { status: 'ok', privacy: parsePrivacyAnswer(body, kind) };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { status: 'error', message: /fetch|network|abort|timeout/i.test(message) ? `the coordinator could not be reached (${message})` : message };
    }
  }

  private set(next: PrivacyState): void {
    if (JSON.stringify(next) === JSON.stringify(this.current)) return;
    this.current = next;
    this.opts.onChange(next);
  }
}
