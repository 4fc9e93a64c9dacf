/**
 * The child processes of the load bench: the coordinator (`cli.ts serve`, its JSON log
 * lines parsed as they arrive, never all kept) and the forked participant processes
 * (load-participants.ts, over IPC). Every child is killed if the bench exits.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelKind } from '../../shared/model/model-registry.ts';
import type { ParticipantProcessReady, ParticipantProcessStats } from './load-participants.ts';
import { forEachLine } from '../runtime/stream-lines.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  });
}
function track<T extends ChildProcess>(c: T): T {
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

const jsonLine = (l: string): Record<string, unknown> | undefined => {
  if (!l.startsWith('{')) return undefined;
  try {
    return JSON.parse(l) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

/** Messages the round engine logs once a round has closed, whatever its outcome (the record's fields with them, but for a failure). */
const ROUND_CLOSED_MESSAGES = new Set(['round aggregated', 'round closed without quorum; model unchanged', 'round failed while closing; the model is unchanged and rounds go on']);

/** A coordinator child process: warnings and errors counted by message, round closes announced, the last lines kept. */
export class CoordinatorProcess {
  readonly tail: string[] = [];
  readonly problems = new Map<string, number>();
  lastClosedRound = 0;
  private listeners: ((line: Record<string, unknown>) => void)[] = [];
  readonly exited: Promise<string>;
  readonly proc: ChildProcess;

  /** `nodeArgs` go before the script (e.g. --cpu-prof); `serveArgs` after `serve`. */
  constructor(nodeArgs: string[], serveArgs: string[]) {
    this.proc = track(spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'coordinator/cli.ts', 'serve', ...serveArgs], {
      cwd: REPO,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    const proc = this.proc;
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(`code ${code} signal ${signal}`)));
    for (const stream of [proc.stdout!, proc.stderr!]) forEachLine(stream, (line) => this.onLine(line, stream === proc.stderr));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  lastLines(): string {
    return this.tail.join('\n');
  }

  private onLine(line: string, stderr: boolean): void {
    this.tail.push(line.length > 600 ? `${line.slice(0, 600)}…` : line);
    if (this.tail.length > 40) this.tail.shift();
    const j = jsonLine(line);
    if (!j) {
      if (stderr && line.trim()) this.count(`stderr: ${line.slice(0, 160)}`);
      return;
    }
    if (typeof j.level === 'number' && j.level >= 40) this.count(`${j.level >= 50 ? 'error' : 'warn'}: ${String(j.msg)}${j.code ? ` [${String(j.code)}]` : ''}`);
    if (ROUND_CLOSED_MESSAGES.has(String(j.msg)) && typeof j.round === 'number') this.lastClosedRound = Math.max(this.lastClosedRound, j.round);
    for (const l of this.listeners) l(j);
  }

  private count(key: string): void {
    this.problems.set(key, (this.problems.get(key) ?? 0) + 1);
  }

  /** Calls `fn` with every JSON log line from now on. */
  onJson(fn: (line: Record<string, unknown>) => void): void {
    this.listeners.push(fn);
  }

  /** The first JSON line from now that passes `test`; rejects after `ms` or when the process exits. */
  waitFor(test: (j: Record<string, unknown>) => boolean, ms: number, what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const done = () => (this.listeners = this.listeners.filter((l) => l !== listener));
      const timer = setTimeout(() => (done(), reject(new Error(`coordinator: no ${what} within ${ms} ms; last output:\n${this.lastLines()}`))), ms);
      const listener = (j: Record<string, unknown>) => {
        if (!test(j)) return;
        clearTimeout(timer);
        done();
        resolve(j);
      };
      this.listeners.push(listener);
      void this.exited.then((how) => {
        clearTimeout(timer);
        done();
        reject(new Error(`coordinator exited (${how}) while waiting for ${what}; last output:\n${this.lastLines()}`));
      });
    });
  }

  /** SIGTERM (its shutdown finishes a round being saved, and writes a --cpu-prof profile), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A forked participant process (load-participants.ts) and what it reported. */
export class ParticipantProcess {
  readonly ready: Promise<ParticipantProcessReady>;
  readonly exited: Promise<void>;
  private readonly stderr: string[] = [];
  private readonly child: ChildProcess;
  private statsWaiter: ((s: ParticipantProcessStats) => void) | null = null;

  constructor(readonly index: number, args: { url: string; model: ModelKind; count: number; silent: number; concurrency: number; warmup: number; block: number }) {
    const argv = [args.url, args.model, args.count, args.silent, args.concurrency, args.warmup, args.block].map(String);
    const child = track(fork(path.join(REPO, 'coordinator/bench/load-participants.ts'), argv, { cwd: REPO, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'pipe', 'ipc'] }));
    this.child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      this.stderr.push(s);
      if (this.stderr.length > 20) this.stderr.shift();
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.ready = new Promise((resolve, reject) => {
      child.on('message', (m: { type?: string; message?: string }) => {
        if (m.type === 'ready') resolve(m as ParticipantProcessReady);
        else if (m.type === 'failed') reject(new Error(`participant process ${index}: ${m.message}`));
        else if (m.type === 'stats') this.statsWaiter?.(m as ParticipantProcessStats);
      });
      void this.exited.then(() => reject(new Error(`participant process ${index} exited (${child.exitCode ?? child.signalCode}); stderr:\n${this.stderr.join('')}`)));
    });
    this.ready.catch(() => {}); // observed by whoever awaits it
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Asks for its counters; it then closes its sockets and exits (killed if it does not answer within `ms`). */
  stop(ms = 15_000): Promise<ParticipantProcessStats | null> {
    return new Promise((resolve) => {
      if (!this.child.connected) return resolve(null);
      const timer = setTimeout(() => (this.child.kill('SIGKILL'), resolve(null)), ms);
      this.statsWaiter = (s) => {
        clearTimeout(timer);
        resolve(s);
      };
      this.child.send({ type: 'stop' });
    });
  }
}
