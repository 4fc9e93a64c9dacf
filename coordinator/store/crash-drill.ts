/**
 * Crash drill (`npm run bench:crash`): the real coordinator (`cli.ts serve --models mf
 * --server-optimizer momentum`, so each save writes weights, server state, .sha256 and
 * manifest) with a socket fleet (`cli.ts simulate --url`) training against it is killed
 * with SIGKILL, then restarted on the same data dir and port:
 *
 * - N times at a random moment (0–2 s after training was confirmed running);
 * - N times inside a save: the coordinator runs with FLOCK_STORE_PAUSE=<step>:<ms>:<file>
 *   (coordinator/store/drill-pause.ts), logs where it paused, and is killed on that line,
 *   so the kill provably lands at that step (cycling through weights tmp written /
 *   fsynced / renamed, server state renamed, .sha256 renamed, manifest tmp written /
 *   fsynced / renamed). Every save of such a process pauses, which adds <ms> to its
 *   "training again" time.
 *
 * After each restart: every manifest entry's files match their sha256 (hashed here,
 * not by the store), the resumed version is not older than the last committed one, the
 * fleet trains again (a new version appears in the manifest), that version is past
 * every number on disk before the restart, and no version file changed its bytes.
 * Prints one row per kill and the median / max time from restart to the next version.
 * Bounded: each wait has a limit, and the whole drill stops at --deadline seconds.
 *
 *   npm run bench:crash -- [--random-kills 10] [--save-kills 10] [--clients 6]
 *                          [--pause-ms 200] [--seed N] [--deadline 900] [--keep]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import { PAUSE_ENV, PAUSE_LOG_MESSAGE } from './drill-pause.ts';
import { parseVersionFileName } from './version-files.ts';
import { forEachLine } from '../runtime/stream-lines.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

interface DrillOptions {
  randomKills: number;
  saveKills: number;
  clients: number;
  pauseMs: number;
  seed: number;
  deadlineS: number;
  keep: boolean;
}

function parseArgs(argv: string[]): DrillOptions {
  const o: DrillOptions = { randomKills: 10, saveKills: 10, clients: 6, pauseMs: 200, seed: Date.now() % 1_000_000, deadlineS: 900, keep: false };
  const numeric: Record<string, keyof DrillOptions> = { '--random-kills': 'randomKills', '--save-kills': 'saveKills', '--clients': 'clients', '--pause-ms': 'pauseMs', '--seed': 'seed', '--deadline': 'deadlineS' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--keep') o.keep = true;
    else if (numeric[a] && Number.isFinite(Number(argv[i + 1]))) (o as unknown as Record<string, number>)[numeric[a]] = Number(argv[++i]);
    else throw new Error(`unknown or incomplete option ${a}; see the comment at the top of coordinator/store/crash-drill.ts`);
  }
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** A child process whose output lines are kept and can be waited for. */
class Child {
  readonly lines: string[] = [];
  private waiters: { test: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  readonly exited: Promise<void>;

  constructor(readonly name: string, readonly proc: ChildProcess) {
    children.add(proc);
    this.exited = new Promise((resolve) => proc.once('exit', () => (children.delete(proc), resolve())));
    for (const stream of [proc.stdout!, proc.stderr!]) {
      forEachLine(stream, (line) => {
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => (w.test(line) ? (w.resolve(line), false) : true));
      });
    }
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The next line (from now) that passes `test`; rejects after `ms` or when the process exits. */
  waitFor(test: (l: string) => boolean, ms: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${what} within ${ms} ms; last output:\n${this.tail()}`)), ms);
      const w = { test, resolve: (l: string) => (clearTimeout(timer), resolve(l)) };
      this.waiters.push(w);
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${this.proc.exitCode ?? this.proc.signalCode}) while waiting for ${what}; last output:\n${this.tail()}`));
      });
    });
  }

  tail(n = 25): string {
    return this.lines.slice(-n).join('\n');
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.alive) this.proc.kill(signal);
    await this.exited;
  }
}

const jsonLine = (l: string): Record<string, unknown> | undefined => {
  try {
    return JSON.parse(l) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

function startCoordinator(dataDir: string, port: number, env: Record<string, string>): Child {
  const args = ['--import', 'tsx', 'coordinator/cli.ts', 'serve', '--host', '127.0.0.1', '--port', String(port), '--models', 'mf', '--data-dir', dataDir,
    '--min-clients', '2', '--round-delay', '50', '--round-interval', '0', '--server-optimizer', 'momentum', '--static', path.join(dataDir, 'no-web-app')];
  return new Child('coordinator', spawn(process.execPath, args, { cwd: REPO, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

interface Manifest {
  entries: { version: number; file: string; sha256: string; bytes: number; serverState?: { file: string; sha256: string; bytes: number } }[];
}

/** Reads the mf manifest and checks every listed file against its sha256, here, independently of the store. */
async function verifyManifest(modelDir: string): Promise<{ versions: number[]; bad: string[] }> {
  const m = JSON.parse(await readFile(path.join(modelDir, 'manifest.json'), 'utf8')) as Manifest;
  const bad: string[] = [];
  for (const e of m.entries) {
    for (const f of [e, ...(e.serverState ? [e.serverState] : [])]) {
      const bytes = await readFile(path.join(modelDir, f.file)).catch(() => undefined);
      if (!bytes || bytes.length !== f.bytes || sha256(bytes) !== f.sha256) bad.push(f.file);
    }
  }
  return { versions: m.entries.map((e) => e.version), bad };
}

async function newestCommitted(modelDir: string): Promise<number> {
  try {
    const m = JSON.parse(await readFile(path.join(modelDir, 'manifest.json'), 'utf8')) as Manifest;
    return m.entries.at(-1)?.version ?? -1;
  } catch {
    return -1; // mid-rename on some platforms, or not written yet
  }
}

/** Every live version file's sha256, and the highest version number any file in versions/ uses. */
async function diskState(modelDir: string): Promise<{ live: Map<string, string>; highest: number }> {
  const live = new Map<string, string>();
  let highest = -1;
  for (const name of await readdir(path.join(modelDir, 'versions'))) {
    const p = parseVersionFileName(name);
    if (!p) continue;
    highest = Math.max(highest, p.version);
    if (p.role) live.set(name, sha256(await readFile(path.join(modelDir, 'versions', name))));
  }
  return { live, highest };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Row {
  n: number;
  kind: 'random' | 'in-save';
  where: string;
  committedBefore: number;
  resumedAt: number;
  repairs: string;
  listenMs: number;
  trainMs: number | null;
  newVersion: number | null;
  problems: string[];
}

/** What open() repaired, from the restarted coordinator's warnings before it listened. */
function repairsOf(lines: string[]): string {
  const counts = new Map<string, number>();
  for (const l of lines) {
    const msg = String(jsonLine(l)?.msg ?? '');
    const kind = /leftover temporary file/.test(msg) ? 'tmp removed' : /\.unlisted-/.test(msg) ? 'unlisted aside' : /\.damaged-/.test(msg) ? 'damaged aside' : /left over from pruning/.test(msg) ? 'prune finished' : /rebuilt manifest/.test(msg) ? 'manifest rebuilt' : undefined;
    if (kind) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k}×${n}`).join(', ') || '-';
}

function printTable(rows: Row[], o: DrillOptions): void {
  const head = ['#', 'kill', 'where', 'committed', 'resumed', 'repairs on open', 'listen ms', 'train again ms', 'next v', 'checks'];
  const body = rows.map((r) => [String(r.n), r.kind, r.where, String(r.committedBefore), String(r.resumedAt), r.repairs, String(r.listenMs), r.trainMs === null ? '-' : String(r.trainMs), r.newVersion === null ? '-' : String(r.newVersion), r.problems.length === 0 ? 'ok' : r.problems.join('; ')]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log('');
  console.log(fmt(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(fmt(b));
  console.log('');
  console.log(`"train again" = from spawning the restarted coordinator to the next new version in its manifest (restart + fleet reconnect + one round); in-save rows include one ${o.pauseMs} ms store pause per save.`);
  for (const [label, group] of [['random kills', rows.filter((r) => r.kind === 'random')], ['kills inside a save', rows.filter((r) => r.kind === 'in-save')], ['all kills', rows]] as const) {
    const t = group.map((r) => r.trainMs).filter((x): x is number => x !== null);
    if (group.length === 0) continue;
    console.log(`${label.padEnd(20)} n=${String(group.length).padEnd(3)} time to training again: median ${median(t).toFixed(0)} ms, max ${t.length ? Math.max(...t) : NaN} ms` + (t.length < group.length ? ` (${group.length - t.length} never trained again)` : ''));
  }
}

/** Where in a save each in-save kill aims (FLOCK_STORE_PAUSE values), in the order of a save. */
const SAVE_POSITIONS = (ms: number): string[] => [
  `tmp-written:${ms}:.flkw`,
  `tmp-synced:${ms}:.flkw`,
  `renamed:${ms}:.flkw`,
  `renamed:${ms}:.server.flkw`,
  `renamed:${ms}:.sha256`,
  `tmp-written:${ms}:manifest.json`,
  `tmp-synced:${ms}:manifest.json`,
  `renamed:${ms}:manifest.json`,
];

function describePause(step: string, file: string): string {
  const what = file.endsWith('.server.flkw') ? 'state' : file.endsWith('.flkw') ? 'weights' : file.endsWith('.sha256') ? '.sha256' : 'manifest';
  const state = step === 'tmp-written' ? 'tmp written, not fsynced' : step === 'tmp-synced' ? 'tmp fsynced, not in place' : step === 'renamed' ? (what === 'manifest' ? 'renamed: committed, not returned' : 'in place, manifest not written') : step;
  return `${what} ${state} (${file.replace('versions/', '')})`;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const deadline = Date.now() + o.deadlineS * 1000;
  const rng = new SeededRandom(o.seed);
  const root = await mkdtemp(path.join(tmpdir(), 'flock-crash-drill-'));
  const modelDir = path.join(root, 'mf');
  const total = o.randomKills + o.saveKills;
  const positions = SAVE_POSITIONS(o.pauseMs);
  const kindOf = (i: number): Row['kind'] => (i < o.randomKills ? 'random' : 'in-save');
  const envFor = (i: number): Record<string, string> => (i < total && kindOf(i) === 'in-save' ? { [PAUSE_ENV]: positions[(i - o.randomKills) % positions.length] } : {});
  console.log(`crash drill: ${o.randomKills} kills at random moments + ${o.saveKills} inside a save, ${o.clients} fleet clients, seed ${o.seed}, data dir ${root}`);

  const isListening = (l: string) => jsonLine(l)?.msg === 'listening';
  let coordinator = startCoordinator(root, 0, envFor(0));
  const first = jsonLine(await coordinator.waitFor(isListening, 120_000, '"listening" line'))!;
  const port = Number(first.port);
  const url = `http://127.0.0.1:${port}`;
  const fleet = new Child('fleet', spawn(process.execPath, ['--import', 'tsx', 'coordinator/cli.ts', 'simulate', '--url', url, '--model', 'mf', '--clients', String(o.clients), '--rounds', '1000000', '--seed', String(o.seed % 1000)], { cwd: REPO, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] }));

  const rows: Row[] = [];
  let failed = false;
  try {
    // Training must be running before the first kill.
    const waitForVersionAbove = async (v: number, ms: number): Promise<number | null> => {
      const until = Math.min(Date.now() + ms, deadline);
      while (Date.now() < until) {
        if (!fleet.alive) throw new Error(`the fleet exited; its last output:\n${fleet.tail()}`);
        if (!coordinator.alive) throw new Error(`the coordinator exited on its own; its last output:\n${coordinator.tail()}`);
        const newest = await newestCommitted(modelDir);
        if (newest > v) return newest;
        await sleep(25);
      }
      return null;
    };
    const started = await waitForVersionAbove(Number((first.versions as Record<string, number>).mf), 180_000);
    if (started === null) throw new Error(`the fleet did not produce a first version; fleet output:\n${fleet.tail()}\ncoordinator output:\n${coordinator.tail()}`);
    console.log(`training: version ${started} on port ${port}; killing now`);

    for (let i = 0; i < total; i++) {
      if (Date.now() > deadline) throw new Error(`deadline of ${o.deadlineS} s reached after ${i} kills`);
      const kind = kindOf(i);
      let where: string;
      if (kind === 'random') {
        const delay = rng.int(2000);
        await sleep(delay);
        where = `${delay} ms after training resumed`;
      } else {
        const line = jsonLine(await coordinator.waitFor((l) => jsonLine(l)?.msg === PAUSE_LOG_MESSAGE, 60_000, 'pause inside a save'))!;
        where = describePause(String(line.step), String(line.file)); // where it really paused (an earlier match may have gone by)
      }
      await coordinator.kill('SIGKILL');
      const committedBefore = await newestCommitted(modelDir);
      const before = await diskState(modelDir);

      const t0 = Date.now();
      coordinator = startCoordinator(root, port, envFor(i + 1));
      const problems: string[] = [];
      let resumedAt = -1;
      let listenMs = -1;
      let trainMs: number | null = null;
      let newVersion: number | null = null;
      try {
        const listening = jsonLine(await coordinator.waitFor(isListening, 120_000, '"listening" line after restart'))!;
        listenMs = Date.now() - t0;
        resumedAt = Number((listening.versions as Record<string, number>).mf);
        const check = await verifyManifest(modelDir);
        if (check.bad.length > 0) problems.push(`sha256 mismatch: ${check.bad.join(', ')}`);
        if (resumedAt < committedBefore) problems.push(`resumed at ${resumedAt}, older than committed ${committedBefore}`);
        newVersion = await waitForVersionAbove(resumedAt, 90_000);
        if (newVersion === null) problems.push('no new version within 90 s');
        else {
          trainMs = Date.now() - t0;
          if (newVersion <= before.highest) problems.push(`new version ${newVersion} reuses a number (files up to ${before.highest} existed)`);
          const after = await diskState(modelDir);
          for (const [name, sum] of before.live) if (after.live.has(name) && after.live.get(name) !== sum) problems.push(`${name} was overwritten`);
        }
      } catch (e) {
        problems.push((e as Error).message.split('\n')[0]);
      }
      const row: Row = { n: i + 1, kind, where, committedBefore, resumedAt, repairs: repairsOf(coordinator.lines), listenMs, trainMs, newVersion, problems };
      rows.push(row);
      console.log(`kill ${row.n}/${total} (${kind}, ${where}): committed ${committedBefore}, resumed ${resumedAt}, training again after ${trainMs ?? '-'} ms at version ${newVersion ?? '-'}${problems.length ? ` — PROBLEM: ${problems.join('; ')}` : ''}`);
      if (problems.length > 0) {
        failed = true;
        if (!coordinator.alive || newVersion === null) {
          console.log(`stopping: the coordinator is not training. Its last output:\n${coordinator.tail()}\nThe fleet's last output:\n${fleet.tail(15)}`);
          break;
        }
      }
    }
  } catch (e) {
    failed = true;
    console.log(`drill aborted: ${(e as Error).message}`);
  } finally {
    await fleet.kill('SIGTERM');
    await coordinator.kill('SIGTERM');
  }
  printTable(rows, o);
  const final = await verifyManifest(modelDir).catch((e: Error) => ({ versions: [], bad: [e.message] }));
  console.log(`final manifest: ${final.versions.length} versions (${final.versions[0]}..${final.versions.at(-1)}), ${final.bad.length === 0 ? 'all verify (sha256)' : `NOT verifying: ${final.bad.join(', ')}`}`);
  if (final.bad.length > 0) failed = true;
  if (o.keep) console.log(`data dir kept: ${root}`);
  else await rm(root, { recursive: true, force: true });
  console.log(failed ? 'CRASH DRILL FAILED' : 'crash drill passed');
  return failed ? 1 : 0;
}

process.exitCode = await main();
