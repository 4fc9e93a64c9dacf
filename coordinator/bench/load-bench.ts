/**
 * Load bench (`npm run bench:load`): one real coordinator process (`cli.ts serve
 * --models mf`, spawned as a child) under many connected participants, measured from
 * outside the process.
 *
 * Participants are raw socket.io clients with their own credentials that answer each
 * round they are selected for at once with a prepared valid update (HonestBot of
 * coordinator/testing/test-participant.ts; no training), opened by `--procs` forked
 * participant processes (load-participants.ts). The coordinator runs with
 * `--min-clients <participants> --clients-per-round <per-round / participants>` (plus
 * its default 30 % over-selection: target 500 → 650 selected), `--max-rounds`,
 * `--max-connections-per-address 0` and a credential rate above the participant count
 * (they all come from 127.0.0.1), and the default message rate stated explicitly.
 *
 * Two scenarios on the same coordinator and participants, in alternating blocks of
 * `--block` rounds after `--warmup` rounds, so a noisy machine's load falls on both
 * alike (load-schedule.ts): every participant answers, or a fixed `--silent` share of
 * them stays connected and never answers. Per scenario, for the coordinator process
 * only: round close time (closedAt − startedAt of GET /api/models/mf/rounds) p50 / p99,
 * rounds/min, RSS (VmRSS of /proc/<pid>/status every 200 ms) median / max, CPU (utime +
 * stime of /proc/<pid>/stat) as % of one core, how long its event-loop thread waited for
 * a core (/proc/<pid>/schedstat), event-loop lag (its /metrics), the participants it
 * reports connected (/api/health every second, /metrics at the end), and how each
 * round closed (closedBy). Prints both side by side with the ratio of the p50s and
 * writes the JSON to --out. `--cpu-prof` also profiles the coordinator (V8 sampling
 * profiler, whole run; kept beside --out as <name>.coordinator.cpuprofile) and prints
 * where its main thread spent its time.
 *
 * Everything stays on 127.0.0.1. Bounded: every wait has a limit, a scenario aborts when
 * no round closes within --round-timeout + 15 s (with the coordinator's last output),
 * and the bench stops at --deadline seconds.
 *
 *   npm run bench:load -- [--participants 2000] [--per-round 500] [--rounds 20]
 *                         [--silent 0.2] [--block 5] [--warmup 1] [--procs 1]
 *                         [--concurrency 32] [--round-timeout 60000] [--deadline 540]
 *                         [--cpu-prof] [--out reports/bench-load.json]
 */
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { modelApiPath } from '../../shared/protocol/model-routes.ts';
import { RoundsResponseSchema, type RoundRecord } from '../../shared/protocol/messages.ts';
import { printProfileSummary, summarizeProfileFile, type ProfileSummary } from './cpu-profile-summary.ts';
import type { ParticipantProcessReady, ParticipantProcessStats } from './load-participants.ts';
import { CoordinatorProcess, ParticipantProcess, REPO } from './load-processes.ts';
import { scenarioOfRound, type LoadScenario } from './load-schedule.ts';
import { hypergeometricBelow } from './hypergeometric.ts';
import { median, percentile } from './percentiles.ts';
import { procDelta, procSnapshot, readLoadAverage, readRssBytes, RssSampler, type ProcSnapshot } from './proc-stats.ts';

const MODEL = 'mf' as const;
const MiB = 1024 * 1024;

interface Options {
  participants: number;
  perRound: number;
  rounds: number;
  silent: number;
  block: number;
  warmup: number;
  procs: number;
  concurrency: number;
  roundTimeoutMs: number;
  deadlineS: number;
  cpuProf: boolean;
  out: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { participants: 2000, perRound: 500, rounds: 20, silent: 0.2, block: 5, warmup: 1, procs: 1, concurrency: 32, roundTimeoutMs: 60_000, deadlineS: 540, cpuProf: false, out: 'reports/bench-load.json' };
  const numeric: Record<string, keyof Options> = {
    '--participants': 'participants', '--per-round': 'perRound', '--rounds': 'rounds', '--silent': 'silent', '--block': 'block', '--warmup': 'warmup',
    '--procs': 'procs', '--concurrency': 'concurrency', '--round-timeout': 'roundTimeoutMs', '--deadline': 'deadlineS',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--cpu-prof') o.cpuProf = true;
    else if (a === '--out' && argv[i + 1]) o.out = argv[++i];
    else if (numeric[a] && argv[i + 1] !== undefined && Number.isFinite(Number(argv[i + 1]))) (o as unknown as Record<string, number>)[numeric[a]] = Number(argv[++i]);
    else throw new Error(`unknown or incomplete option ${a}; see the comment at the top of coordinator/bench/load-bench.ts`);
  }
  const whole = (k: keyof Options, min: number) => {
    if (!Number.isInteger(o[k]) || (o[k] as number) < min) throw new Error(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be an integer ≥ ${min}`);
  };
  for (const [k, min] of [['participants', 1], ['perRound', 1], ['rounds', 1], ['block', 1], ['warmup', 1], ['procs', 1], ['concurrency', 1], ['roundTimeoutMs', 1000], ['deadlineS', 10]] as const) whole(k, min);
  if (o.perRound > o.participants) throw new Error('--per-round cannot exceed --participants');
  if (!(o.silent >= 0 && o.silent < 1)) throw new Error('--silent must be a fraction in [0, 1)');
  o.block = Math.min(o.block, o.rounds);
  if (o.silent > 0 && o.rounds % o.block !== 0) throw new Error(`--rounds (${o.rounds}) must be a multiple of --block (${o.block}) so both scenarios get as many rounds`);
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Rejects after `ms` with `message`; `cancel()` clears the timer so it never keeps the process alive. */
function timeout(ms: number, message: () => string): { promise: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms)));
  promise.catch(() => {});
  return { promise, cancel: () => clearTimeout(timer) };
}

async function getJson(url: string, ms = 30_000): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(ms) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

type Health = { models: Record<string, { round: number; clients: number; version: number }> };

/** A few series of the coordinator's /metrics (Prometheus text), keyed by name and labels. Scraping resets its event-loop-lag histogram. */
async function scrapeMetrics(url: string): Promise<Record<string, number>> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  const wanted = /^(flock_participants_connected|flock_updates_accepted_total|flock_updates_rejected_total|flock_edge_refusals_total|nodejs_eventloop_lag_p99_seconds|nodejs_eventloop_lag_max_seconds|nodejs_heap_size_used_bytes)(\{[^}]*\})?\s+(\S+)$/;
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = wanted.exec(line);
    if (m) out[m[1] + (m[2] ?? '')] = Number(m[3]);
  }
  return out;
}
const sumOf = (m: Record<string, number>, prefix: string): number => Object.entries(m).filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
const byLabel = (m: Record<string, number>, prefix: string, label: string): Record<string, number> =>
  Object.fromEntries(Object.entries(m).filter(([k, v]) => k.startsWith(prefix) && v > 0).map(([k, v]) => [new RegExp(`${label}="([^"]*)"`).exec(k)?.[1] ?? k, v]));
const countBy = (xs: (string | undefined)[]): Record<string, number> => xs.reduce<Record<string, number>>((m, x) => ((m[x ?? 'unknown'] = (m[x ?? 'unknown'] ?? 0) + 1), m), {});

/** One block of rounds, measured from the close of the block before it to the close of its last round. */
interface BlockMeasure {
  scenario: LoadScenario;
  lastRound: number;
  proc: ProcSnapshot;
  eventLoopLagP99Ms: number;
  eventLoopLagMaxMs: number;
  heapUsedMiB: number;
  rssMiB: number;
  loadAverage: number;
}

interface RoundRow {
  round: number;
  scenario: LoadScenario;
  closedBy?: string;
  outcome: string;
  selected: number;
  target?: number;
  received: number;
  /** Selected participants that answered (selected minus those that kept silent). */
  answering: number;
  /** Updates for this round refused while it was open or being saved (mostly over-selected ones arriving after the target). */
  rejectedWhileOpen: number;
  closeMs: number;
  /** From the close of the round before to this one's close: round delay + announce + updates + save. */
  cycleMs: number;
  /** From the round's start to the last selected participant hearing of it. */
  announcedMs: number | null;
}

interface ScenarioSummary {
  scenario: LoadScenario;
  label: string;
  rounds: number;
  closeMs: { p50: number; p99: number; min: number; max: number };
  announcedMs: { p50: number; p99: number };
  roundsPerMin: number;
  closedBy: Record<string, number>;
  /**
   * Rounds that closed short of their target, split by why: fewer selected participants
   * answered than the target (what silence can do), or enough answered and the round
   * still closed first (the stragglers' grace ran out before the coordinator had read them);
   * and how many of the first to expect from silence alone (hypergeometric).
   */
  shortOfTarget: { tooFewAnswered: number; enoughAnswered: number; expectedFromSilence: number };
  outcomes: Record<string, number>;
  selectedMedian: number;
  targetMedian: number;
  receivedMedian: number;
  rssMiB: { median: number; max: number; samples: number };
  cpu: { percentOfOneCore: number; cpuSeconds: number; wallSeconds: number; runQueueWaitPercent: number };
  eventLoopLagMs: { worstBlockP99: number; max: number };
  loadAverageMedian: number;
  connected: { min: number; max: number };
  /** Updates the participants were told were rejected, for this scenario's rounds, by code (late: after the round closed). */
  rejected: Record<string, number>;
}

interface BenchResult {
  options: Options;
  aborted?: string;
  joinSeconds?: number;
  updateBytes?: number;
  participantsJoined?: number;
  connectedAtEnd?: { health: number; metrics: number };
  rssMiB?: { afterStart: number; afterJoin: number; windowStart: number; windowEnd: number };
  heapUsedMiB?: { windowStart: number; windowEnd: number };
  updates?: { accepted: number; rejected: Record<string, number>; edgeRefusals: Record<string, number> };
  scenarios: ScenarioSummary[];
  rounds: RoundRow[];
  blocks: BlockMeasure[];
  coordinatorWarnings: Record<string, number>;
  participantProcesses: (Omit<ParticipantProcessStats, 'arrivals'> | null)[];
  /** Each participant process over the measured rounds, from /proc: CPU and run-queue wait, % of wall. */
  participantProcessCpu: { percentOfOneCore: number; runQueueWaitPercent: number }[];
  cpuProfile?: { file: string; summary: ProfileSummary };
}

const LABEL: Record<LoadScenario, string> = { warmup: 'warm-up', answer: 'everyone answers', silent: 'silent' };

async function run(o: Options, deadline: number): Promise<BenchResult> {
  const silentCount = Math.round(o.participants * o.silent);
  const block = silentCount > 0 ? o.block : 0;
  const totalRounds = o.warmup + o.rounds * (block > 0 ? 2 : 1);
  const scenarioOf = (round: number) => scenarioOfRound(round, o.warmup, block);
  const result: BenchResult = { options: o, scenarios: [], rounds: [], blocks: [], coordinatorWarnings: {}, participantProcesses: [], participantProcessCpu: [] };
  const remaining = () => Math.max(1, deadline - Date.now());

  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-bench-load-'));
  const profileDir = path.join(dataDir, 'cpu-profile');
  const coordinator = new CoordinatorProcess(o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [], [
    '--host', '127.0.0.1', '--port', '0', '--models', MODEL, '--data-dir', dataDir, '--static', path.join(dataDir, 'no-web-app'),
    '--min-clients', String(o.participants),
    '--clients-per-round', String(o.perRound / o.participants),
    '--max-rounds', String(totalRounds),
    '--round-interval', '0',
    '--round-timeout', String(o.roundTimeoutMs),
    // Every participant comes from 127.0.0.1: no per-address connection cap, and a credential for each.
    '--max-connections-per-address', '0',
    '--credential-rate', `${2 * o.participants + 100}/10m`,
    // The default, stated: an honest participant sends one join and one update per round it is selected for.
    '--message-rate', '20/40',
  ]);
  const procs: ParticipantProcess[] = [];
  const timers: NodeJS.Timeout[] = [];
  let rss: RssSampler<LoadScenario> | null = null;
  try {
    const listening = await coordinator.waitFor((j) => j.msg === 'listening', Math.min(remaining(), 120_000), '"listening" line');
    const url = String(listening.url).replace(/\/$/, '');
    const rssAfterStart = readRssBytes(coordinator.pid) ?? NaN;
    console.log(`coordinator pid ${coordinator.pid} on ${url} (RSS ${(rssAfterStart / MiB).toFixed(0)} MiB); opening ${o.participants} participants (${silentCount} of them silent in silent rounds) from ${o.procs} process(es), ${o.concurrency} joins at a time`);

    for (let i = 0; i < o.procs; i++) {
      const share = (n: number) => Math.floor(n / o.procs) + (i < n % o.procs ? 1 : 0);
      procs.push(new ParticipantProcess(i, { url, model: MODEL, count: share(o.participants), silent: share(silentCount), concurrency: Math.max(1, Math.round(o.concurrency / o.procs)), warmup: o.warmup, block }));
    }
    const health = async () => ((await getJson(`${url}/api/health`)) as Health).models[MODEL];
    const progress = setInterval(() => void health().then((h) => console.log(`  joined so far (the coordinator's count): ${h.clients}`), () => {}), 10_000);
    timers.push(progress);
    const joinLimit = timeout(Math.min(remaining(), 300_000), () => 'the participants did not all join in time');
    let ready: ParticipantProcessReady[];
    try {
      ready = await Promise.race([
        Promise.all(procs.map((p) => p.ready)),
        joinLimit.promise,
        coordinator.exited.then((how) => Promise.reject(new Error(`coordinator exited (${how}) while participants joined; last output:\n${coordinator.lastLines()}`))),
      ]);
    } finally {
      joinLimit.cancel();
      clearInterval(progress);
    }
    result.joinSeconds = Math.max(...ready.map((r) => r.joinSeconds));
    result.updateBytes = ready[0].updateBytes;
    result.participantsJoined = ready.reduce((n, r) => n + r.participants, 0);
    const rssAfterJoin = readRssBytes(coordinator.pid) ?? NaN;
    console.log(`${result.participantsJoined} participants joined in ${result.joinSeconds.toFixed(1)} s (update ${result.updateBytes} bytes); coordinator RSS ${(rssAfterJoin / MiB).toFixed(0)} MiB`);

    // ---- rounds: progress from the coordinator's log; blocks measured at each block's last close.
    coordinator.onJson((j) => {
      if (j.msg !== 'round aggregated' && j.msg !== 'round closed without quorum; model unchanged') return;
      const r = Number(j.round);
      console.log(`  round ${String(r).padStart(2)}/${totalRounds} ${LABEL[scenarioOf(r)].padEnd(16)} ${String(j.outcome)} by ${String(j.closedBy).padEnd(18)} ${String(Number(j.closedAt) - Number(j.startedAt)).padStart(6)} ms, ${j.received}/${j.selected} in (target ${j.target})`);
    });
    let blockStart: ProcSnapshot | null = null;
    const measureBlockEnd = async (lastRound: number) => {
      const proc = procSnapshot(coordinator.pid);
      const m = await scrapeMetrics(url); // resets the lag histogram: each block gets its own
      if (blockStart && lastRound > o.warmup) {
        result.blocks.push({
          scenario: scenarioOf(lastRound), lastRound, proc: procDelta(blockStart, proc),
          eventLoopLagP99Ms: m.nodejs_eventloop_lag_p99_seconds * 1000, eventLoopLagMaxMs: m.nodejs_eventloop_lag_max_seconds * 1000,
          heapUsedMiB: m.nodejs_heap_size_used_bytes / MiB, rssMiB: (readRssBytes(coordinator.pid) ?? NaN) / MiB, loadAverage: readLoadAverage(),
        });
      }
      blockStart = proc;
      return m;
    };
    const isBlockEnd = (r: number) => r === o.warmup || (r > o.warmup && (r - o.warmup) % o.block === 0) || r === totalRounds;

    const connected: { scenario: LoadScenario; clients: number }[] = [];
    let metricsAtWindowStart: Record<string, number> = {};
    let participantsAtWindowStart: ProcSnapshot[] = [];
    let measured = o.warmup - 1;
    let seen = coordinator.lastClosedRound;
    let since = Date.now();
    while (measured < totalRounds) {
      if (!coordinator.alive) throw new Error(`coordinator exited (${await coordinator.exited}); last output:\n${coordinator.lastLines()}`);
      if (Date.now() >= deadline) throw new Error(`--deadline reached at round ${coordinator.lastClosedRound} of ${totalRounds}`);
      if (coordinator.lastClosedRound !== seen) {
        seen = coordinator.lastClosedRound;
        since = Date.now();
      }
      if (Date.now() - since > o.roundTimeoutMs + 15_000) {
        const h = await health().catch((e: Error) => e.message);
        throw new Error(`no round closed for ${((Date.now() - since) / 1000).toFixed(0)} s (last closed: ${seen} of ${totalRounds}); health: ${JSON.stringify(h)}; last output:\n${coordinator.lastLines()}`);
      }
      // Every round that closed since the last look (normally one): block boundaries in order.
      while (measured < coordinator.lastClosedRound && measured < totalRounds) {
        measured++;
        if (!isBlockEnd(measured)) continue;
        const m = await measureBlockEnd(measured);
        if (measured === o.warmup) {
          metricsAtWindowStart = m;
          participantsAtWindowStart = procs.map((p) => procSnapshot(p.pid));
          rss = new RssSampler(coordinator.pid, () => scenarioOf(coordinator.lastClosedRound + 1), 200);
          timers.push(setInterval(() => {
            const scenario = scenarioOf(coordinator.lastClosedRound + 1);
            void health().then((h) => connected.push({ scenario, clients: h.clients }), () => {});
          }, 1000));
        }
      }
      await sleep(20);
    }
    result.participantProcessCpu = procs.map((p, i) => {
      const d = procDelta(participantsAtWindowStart[i], procSnapshot(p.pid));
      return { percentOfOneCore: (100 * d.cpuSeconds) / d.wallSeconds, runQueueWaitPercent: (100 * d.runQueueWaitSeconds) / d.wallSeconds };
    });
    const rssSamples = rss?.stop() ?? [];
    rss = null;
    for (const t of timers) clearInterval(t);
    const metricsAtEnd = await scrapeMetrics(url);
    const hEnd = await health();

    // ---- the round log, with when the participants heard of each round
    const records = RoundsResponseSchema.parse(await getJson(`${url}${modelApiPath(MODEL)}/rounds?limit=1000`)).rounds.sort((a, b) => a.round - b.round);
    const stats = await Promise.all(procs.map((p) => p.stop()));
    const lastHeard = new Map<number, number>();
    const keptSilent = new Map<number, number>();
    for (const s of stats) {
      for (const [r, a] of Object.entries(s?.arrivals ?? {})) {
        lastHeard.set(Number(r), Math.max(lastHeard.get(Number(r)) ?? 0, a.lastAt));
        keptSilent.set(Number(r), (keptSilent.get(Number(r)) ?? 0) + a.silent);
      }
    }
    result.participantProcesses = stats.map((s) => (s ? (({ arrivals: _a, ...rest }) => rest)(s) : null));
    result.rounds = records.map((r: RoundRecord, i) => ({
      round: r.round, scenario: scenarioOf(r.round), closedBy: r.closedBy, outcome: r.outcome, selected: r.selected, target: r.target, received: r.received, answering: r.selected - (keptSilent.get(r.round) ?? 0), rejectedWhileOpen: r.rejected,
      closeMs: r.closedAt - r.startedAt,
      cycleMs: i > 0 ? r.closedAt - records[i - 1].closedAt : NaN,
      announcedMs: lastHeard.has(r.round) ? lastHeard.get(r.round)! - r.startedAt : null,
    }));

    const rejectedIn = (scenario: LoadScenario) => {
      const m: Record<string, number> = {};
      for (const s of stats) for (const [code, n] of Object.entries(s?.rejectionsByScenario[scenario] ?? {})) m[code] = (m[code] ?? 0) + n;
      return m;
    };
    for (const scenario of (block > 0 ? ['answer', 'silent'] : ['answer']) as LoadScenario[]) {
      const rows = result.rounds.filter((r) => r.scenario === scenario);
      const blocks = result.blocks.filter((b) => b.scenario === scenario);
      const sum = (f: (b: BlockMeasure) => number) => blocks.reduce((n, b) => n + f(b), 0);
      const wall = sum((b) => b.proc.wallSeconds);
      const closeMs = rows.map((r) => r.closeMs);
      const announced = rows.map((r) => r.announcedMs).filter((x): x is number => x !== null);
      const rssOf = rssSamples.filter((s) => s.tag === scenario).map((s) => s.bytes / MiB);
      const conn = connected.filter((c) => c.scenario === scenario).map((c) => c.clients);
      result.scenarios.push({
        scenario,
        label: scenario === 'silent' ? `${Math.round(o.silent * 100)} % silent` : LABEL[scenario],
        rounds: rows.length,
        closeMs: { p50: median(closeMs), p99: percentile(closeMs, 99), min: Math.min(...closeMs), max: Math.max(...closeMs) },
        announcedMs: { p50: median(announced), p99: percentile(announced, 99) },
        roundsPerMin: (60_000 * rows.length) / rows.reduce((n, r) => n + r.cycleMs, 0),
        closedBy: countBy(rows.map((r) => r.closedBy)),
        shortOfTarget: {
          tooFewAnswered: rows.filter((r) => r.closedBy !== 'target' && r.answering < (r.target ?? Infinity)).length,
          enoughAnswered: rows.filter((r) => r.closedBy !== 'target' && r.answering >= (r.target ?? Infinity)).length,
          expectedFromSilence: scenario === 'silent' ? rows.length * hypergeometricBelow(result.participantsJoined ?? o.participants, (result.participantsJoined ?? o.participants) - silentCount, median(rows.map((r) => r.selected)), median(rows.map((r) => r.target ?? NaN))) : 0,
        },
        outcomes: countBy(rows.map((r) => r.outcome)),
        selectedMedian: median(rows.map((r) => r.selected)),
        targetMedian: median(rows.map((r) => r.target ?? NaN)),
        receivedMedian: median(rows.map((r) => r.received)),
        rssMiB: { median: median(rssOf), max: Math.max(...rssOf), samples: rssOf.length },
        cpu: {
          percentOfOneCore: (100 * sum((b) => b.proc.cpuSeconds)) / wall,
          cpuSeconds: sum((b) => b.proc.cpuSeconds),
          wallSeconds: wall,
          runQueueWaitPercent: (100 * sum((b) => b.proc.runQueueWaitSeconds)) / wall,
        },
        eventLoopLagMs: { worstBlockP99: Math.max(...blocks.map((b) => b.eventLoopLagP99Ms)), max: Math.max(...blocks.map((b) => b.eventLoopLagMaxMs)) },
        loadAverageMedian: median(blocks.map((b) => b.loadAverage)),
        connected: { min: Math.min(...conn), max: Math.max(...conn) },
        rejected: rejectedIn(scenario),
      });
    }
    result.connectedAtEnd = { health: hEnd.clients, metrics: metricsAtEnd[`flock_participants_connected{model="${MODEL}"}`] };
    result.rssMiB = {
      afterStart: rssAfterStart / MiB, afterJoin: rssAfterJoin / MiB,
      windowStart: (rssSamples[0]?.bytes ?? NaN) / MiB, windowEnd: (rssSamples[rssSamples.length - 1]?.bytes ?? NaN) / MiB,
    };
    result.heapUsedMiB = { windowStart: metricsAtWindowStart.nodejs_heap_size_used_bytes / MiB, windowEnd: metricsAtEnd.nodejs_heap_size_used_bytes / MiB };
    result.updates = {
      accepted: sumOf(metricsAtEnd, 'flock_updates_accepted_total'),
      rejected: byLabel(metricsAtEnd, 'flock_updates_rejected_total', 'code'),
      edgeRefusals: byLabel(metricsAtEnd, 'flock_edge_refusals_total', 'reason'),
    };
  } catch (err) {
    result.aborted = err instanceof Error ? err.message : String(err);
    console.log(`ABORTED: ${result.aborted}`);
  } finally {
    rss?.stop();
    for (const t of timers) clearInterval(t);
    if (result.participantProcesses.length === 0) {
      const stats = await Promise.all(procs.map((p) => p.stop()));
      result.participantProcesses = stats.map((s) => (s ? (({ arrivals: _a, ...rest }) => rest)(s) : null));
    }
    await coordinator.stop();
    await Promise.all(procs.map((p) => p.exited));
    result.coordinatorWarnings = Object.fromEntries(coordinator.problems);
    if (o.cpuProf) {
      const file = (await readdir(profileDir).catch(() => [] as string[])).find((f) => f.endsWith('.cpuprofile'));
      if (file) {
        const kept = path.resolve(REPO, o.out.replace(/\.json$/, '') + '.coordinator.cpuprofile');
        await mkdir(path.dirname(kept), { recursive: true });
        await copyFile(path.join(profileDir, file), kept);
        result.cpuProfile = { file: path.relative(REPO, kept), summary: await summarizeProfileFile(kept, 25) };
      } else console.log('no CPU profile was written (the coordinator did not exit cleanly?)');
    }
    await rm(dataDir, { recursive: true, force: true });
  }
  return result;
}

// ---------------------------------------------------------------- report

const f0 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(0));
const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(1));
const counts = (m: Record<string, number> | undefined) => (m && Object.keys(m).length ? Object.entries(m).map(([k, v]) => `${k}×${v}`).join(' ') : '-');

function printReport(r: BenchResult): void {
  const o = r.options;
  const rows: [string, (s: ScenarioSummary) => string][] = [
    ['rounds measured', (s) => String(s.rounds)],
    ['target / selected per round', (s) => `${f0(s.targetMedian)} / ${f0(s.selectedMedian)}`],
    ['round close p50 (ms)', (s) => f0(s.closeMs.p50)],
    ['round close p99 (ms)', (s) => f0(s.closeMs.p99)],
    ['round close min / max (ms)', (s) => `${f0(s.closeMs.min)} / ${f0(s.closeMs.max)}`],
    ['last participant heard, p50 (ms)', (s) => f0(s.announcedMs.p50)],
    ['rounds/min', (s) => f1(s.roundsPerMin)],
    ['closedBy', (s) => counts(s.closedBy)],
    ['short of target: few answered / enough', (s) => `${s.shortOfTarget.tooFewAnswered} / ${s.shortOfTarget.enoughAnswered}`],
    ['  expected from silence alone', (s) => s.shortOfTarget.expectedFromSilence.toFixed(2)],
    ['outcome', (s) => counts(s.outcomes)],
    ['updates in per round (median)', (s) => f0(s.receivedMedian)],
    ['updates rejected (participants told)', (s) => counts(s.rejected)],
    ['RSS median / max (MiB)', (s) => `${f0(s.rssMiB.median)} / ${f0(s.rssMiB.max)}`],
    ['CPU (% of one core)', (s) => f0(s.cpu.percentOfOneCore)],
    ['CPU s / wall s', (s) => `${f1(s.cpu.cpuSeconds)} / ${f1(s.cpu.wallSeconds)}`],
    ['waiting for a core (% of wall)', (s) => f0(s.cpu.runQueueWaitPercent)],
    ['event-loop lag p99 (worst block) / max ms', (s) => `${f0(s.eventLoopLagMs.worstBlockP99)} / ${f0(s.eventLoopLagMs.max)}`],
    ['connected (health, min / max)', (s) => `${f0(s.connected.min)} / ${f0(s.connected.max)}`],
    ['machine load average (median)', (s) => f1(s.loadAverageMedian)],
  ];
  const heads = ['', ...r.scenarios.map((s) => s.label)];
  const body = rows.map(([label, fn]) => [label, ...r.scenarios.map(fn)]);
  const widths = heads.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   ');
  console.log('');
  console.log(`load bench: ${o.participants} participants, target ${o.perRound} per round (+30 % over-selection), one coordinator process (model ${MODEL}),`);
  console.log(`${o.rounds} rounds per scenario in alternating blocks of ${o.block} after ${o.warmup} warm-up; ${o.procs} participant process(es); ${os.cpus().length} cores, node ${process.version}`);
  if (r.joinSeconds !== undefined) console.log(`joined: ${r.participantsJoined} participants in ${f1(r.joinSeconds)} s; update ${r.updateBytes} bytes`);
  console.log('');
  console.log(fmt(heads));
  console.log(widths.map((w) => '-'.repeat(w)).join('   '));
  for (const b of body) console.log(fmt(b));
  const [a, s] = r.scenarios;
  if (a && s) console.log(`\nround close p50 ratio (${s.label} / ${a.label}): ${(s.closeMs.p50 / a.closeMs.p50).toFixed(2)}×   p99 ratio: ${(s.closeMs.p99 / a.closeMs.p99).toFixed(2)}×   rounds/min ratio: ${(s.roundsPerMin / a.roundsPerMin).toFixed(2)}×`);
  if (r.rssMiB) console.log(`coordinator RSS (MiB): after start ${f0(r.rssMiB.afterStart)}, after joins ${f0(r.rssMiB.afterJoin)}, first / last round sample ${f0(r.rssMiB.windowStart)} / ${f0(r.rssMiB.windowEnd)}; heap used ${f0(r.heapUsedMiB?.windowStart)} → ${f0(r.heapUsedMiB?.windowEnd)}`);
  if (r.blocks.length) console.log(`at each block's end (round: RSS / heap used MiB): ${r.blocks.map((b) => `${b.lastRound}: ${f0(b.rssMiB)} / ${f0(b.heapUsedMiB)}`).join(', ')}`);
  if (r.connectedAtEnd) console.log(`connected at the end: ${r.connectedAtEnd.health} (/api/health), ${f0(r.connectedAtEnd.metrics)} (/metrics flock_participants_connected)`);
  if (r.updates) console.log(`updates accepted ${r.updates.accepted}; rejected ${counts(r.updates.rejected)}; edge refusals ${counts(r.updates.edgeRefusals)}`);
  for (const [i, p] of r.participantProcesses.entries()) {
    if (!p) continue;
    const cpu = r.participantProcessCpu[i];
    console.log(`participant process: ${p.participants} (${p.silent} switchable to silent), connected at stop ${p.connectedAtStop}; selected ${p.selected}, answered ${p.answered}, kept silent ${p.keptSilent}, acks ${p.acks}, rejections ${counts(p.rejections)}, disconnects ${counts(p.disconnects)}, protocol errors ${counts(p.protocolErrors)}; over the rounds: CPU ${f0(cpu?.percentOfOneCore)} % of one core, waiting for a core ${f0(cpu?.runQueueWaitPercent)} % of wall; event-loop delay p99 ${f0(p.loopDelayP99Ms)} ms (max ${f0(p.loopDelayMaxMs)})`);
  }
  const logged = Object.entries(r.coordinatorWarnings);
  console.log(`coordinator warnings/errors logged: ${logged.length ? logged.map(([w, n]) => `${n} × ${w}`).join('; ') : 'none'}`);
  if (r.aborted) console.log(`\nABORTED — ${r.aborted.split('\n')[0]}`);
  console.log('\nround close = closedAt − startedAt in the round log (announce → target in → version saved); rounds/min from close to close (includes the 250 ms --round-delay).');
  console.log('short of target: rounds not closed by their target; "few answered" = fewer selected participants answered than the target (silence), "enough" = they had answered, yet the stragglers\' grace closed the round before the coordinator had read their updates.');
  console.log('p99 is nearest-rank: with fewer than 100 rounds it is the slowest one. "waiting for a core" = the coordinator\'s event-loop thread runnable but not running (/proc/<pid>/schedstat).');
  console.log('This machine is shared and noisy: read the two columns against each other (measured interleaved, in one run), not absolute times across runs.');
  if (r.cpuProfile) printProfileSummary(r.cpuProfile.summary, `coordinator CPU profile (whole run, ${r.cpuProfile.file})`);
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const result = await run(o, t0 + o.deadlineS * 1000);
  printReport(result);
  const out = path.resolve(REPO, o.out);
  await mkdir(path.dirname(out), { recursive: true });
  const machine = { cores: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, totalMemGiB: +(os.totalmem() / 2 ** 30).toFixed(1) };
  await writeFile(out, JSON.stringify({ createdAt: new Date().toISOString(), machine, seconds: (Date.now() - t0) / 1000, ...result }, null, 2));
  console.log(`\nwrote ${path.relative(REPO, out)} (${((Date.now() - t0) / 1000).toFixed(0)} s in all)`);
  return result.aborted ? 1 : 0;
}

process.exitCode = await main();
