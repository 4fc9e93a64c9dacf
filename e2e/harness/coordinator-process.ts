import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { forEachLine } from '../../coordinator/runtime/stream-lines.ts';

/** Repository root (e2e/harness/ → ../..). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface StartCoordinatorOptions {
  /** Data directory; a fresh temporary one (removed on stop) when absent. */
  dataDir?: string;
  /** Flags appended after the defaults; a later flag overrides an earlier one. */
  extraArgs?: string[];
  /** How long to wait for the "listening" line (ms). */
  startTimeoutMs?: number;
  /** Echo the coordinator's output to stderr as it arrives. */
  echo?: boolean;
}

export interface RunningCoordinator {
  url: string;
  port: number;
  dataDir: string;
  process: ChildProcess;
  /** Every line the coordinator printed (stdout and stderr), in order. */
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Both models, with a sequence model small enough for SwiftShader's WebGPU (a CPU emulation). */
export const SMALL_MODELS_ARGS: readonly string[] = ['--models', 'mf,sasrec', '--dim', '16', '--max-len', '10', '--blocks', '1', '--heads', '2', '--local-epochs', '1'];

export const DEFAULT_SERVE_ARGS: readonly string[] = [
  '--host', '127.0.0.1',
  '--port', '0',
  '--static', process.env.FLOCK_DIST ?? 'dist',
  '--min-clients', '3',
  '--clients-per-round', '1',
  '--round-timeout', '60000',
  // Rounds back to back (after the 250 ms --round-delay) as before pacing: e2e tests wait
  // for rounds, they do not measure the default 30 s interval (e2e/bench/idle-upload.ts does).
  '--round-interval', '0',
  '--seed', '1',
];

/**
 * Coordinators still running. If the test process ends without `stop()` (a crash, the
 * runner's timeout, Ctrl-C), they are killed on the way out instead of being orphaned.
 */
const live = new Set<ChildProcess>();
let exitHooksInstalled = false;
function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  const killAll = () => {
    for (const c of live) c.kill('SIGKILL');
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.kill(process.pid, sig);
    });
  }
}

function tail(logs: string[], n = 60): string {
  return logs.slice(-n).join('\n');
}

/** Spawns `coordinator/cli.ts serve` and resolves once it logs `"msg":"listening"` with its URL. */
export async function startCoordinator(opts: StartCoordinatorOptions = {}): Promise<RunningCoordinator> {
  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'flock-e2e-')));
  const args = [
    '--import', 'tsx', 'coordinator/cli.ts', 'serve',
    ...DEFAULT_SERVE_ARGS,
    '--data-dir', dataDir,
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  installExitHooks();
  live.add(child);
  child.once('exit', () => live.delete(child));
  const logs: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let exitInfo: string | null = null;
  child.once('exit', (code, signal) => {
    exitInfo = `code=${code} signal=${signal}`;
  });

  let onListening: ((url: string) => void) | null = null;
  const collect = (stream: NodeJS.ReadableStream, prefix: string) =>
    forEachLine(stream, (line) => {
      logs.push(prefix + line);
      if (opts.echo) process.stderr.write(`[coordinator] ${prefix}${line}\n`);
      if (onListening && line.includes('"msg":"listening"')) {
        try {
          const url = (JSON.parse(line) as { url?: unknown }).url;
          if (typeof url === 'string') onListening(url);
        } catch {
          const m = /"url":"(http:\/\/[^"]+)"/.exec(line);
          if (m) onListening(m[1]);
        }
      }
    });
  collect(child.stdout!, '');
  collect(child.stderr!, '[stderr] ');

  let stopped = false;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
    }
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
  };

  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`coordinator did not log "listening" within ${timeoutMs} ms; output:\n${tail(logs)}`)),
        timeoutMs,
      );
      onListening = (u) => {
        clearTimeout(timer);
        resolve(u);
      };
      void exited.then(() => {
        clearTimeout(timer);
        // Give the stream a tick to flush the last lines into `logs`.
        setTimeout(() => reject(new Error(`coordinator exited before listening (${exitInfo}); output:\n${tail(logs)}`)), 50);
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`could not spawn coordinator: ${err.message}`));
      });
    });
    onListening = null;
    const port = Number(new URL(url).port);
    return { url: url.replace(/\/$/, ''), port, dataDir, process: child, logs, stop };
  } catch (err) {
    await stop('SIGKILL');
    throw err;
  }
}

/** GET a JSON document from the coordinator, with a clear error on failure. */
export async function getJson<T>(baseUrl: string, pathname: string): Promise<T> {
  const res = await fetch(baseUrl + pathname, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${pathname} → ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
