import { HealthResponseSchema, type HealthResponse } from '../../shared/protocol/messages.ts';

/**
 * How many people are connected to each model, from the coordinator's /api/health,
 * polled every `everyMs` while the page trains: it tells a lone person that rounds
 * wait for others. Failures keep the last answer (the socket says when it is offline).
 */
export class HealthFeed {
  private last: HealthResponse | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(private readonly server: string, private readonly onChange: () => void, private readonly everyMs = 5000) {}

  start(): void {
    this.stopped = false;
    void this.poll();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Ask again now (e.g. this device just connected and is not counted in the last answer). */
  refresh(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    void this.poll();
  }

  /** People connected to this model, this device included; null before the first answer. */
  peopleOnline(kind: string): number | null {
    return this.last?.models[kind]?.clients ?? null;
  }

  private async poll(): Promise<void> {
    try {
      // Plain GET (no cache-control header): the coordinator's ETag keeps answers fresh.
      const res = await fetch(`${this.server}/api/health`);
      const parsed = HealthResponseSchema.safeParse(res.ok ? await res.json() : null);
      if (parsed.success) {
        const changed = JSON.stringify(parsed.data.models) !== JSON.stringify(this.last?.models);
        this.last = parsed.data;
        if (changed && !this.stopped) this.onChange();
      }
    } catch {
      // Unreachable: keep the last answer; the participants' sockets report the connection.
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.poll(), this.everyMs);
  }
}
