/**
 * One participant process of the load bench (coordinator/bench/load-bench.ts forks it
 * with IPC): opens `count` raw socket.io participants on one model, each with its own
 * credential (POST /api/credentials), `concurrency` at a time.
 *
 * - The first `silent` of them answer only the rounds scenarioOfRound() calls 'answer'
 *   or 'warmup'; in 'silent' rounds they stay connected and never answer.
 * - The others are HonestBots (coordinator/testing/test-participant.ts) that answer
 *   every round at once.
 * Every answer is the same prepared valid update of the served model's shape (1e-4
 * everywhere, inside the clip bound; built from GET /api/models/<kind>), encoded once
 * per round and shared by all.
 *
 *   argv: <url> <model> <count> <silent> <concurrency> <warmup> <block>
 *
 * To the parent: { type: 'ready', … } once all have joined, { type: 'failed', message }
 * on any error, { type: 'stats', … } (with per-round announcement times) when told
 * { type: 'stop' }; then it closes its sockets and exits.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Socket } from 'socket.io-client';
import { createModel, parseModelKind } from '../../shared/model/model-registry.ts';
import { EVENTS, ModelInfoResponseSchema, type ProtocolErrorMessage, type UpdateRejectedMessage } from '../../shared/protocol/messages.ts';
import { modelApiPath } from '../../shared/protocol/model-routes.ts';
import { elementCount, type NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { encodeUpdate, toWireTensors } from '../../shared/update/tensor-codec.ts';
import { HonestBot, joinAs } from '../testing/test-participant.ts';
import { scenarioOfRound } from './load-schedule.ts';

/** When this process's participants heard of one round (ms since epoch, the coordinator's clock too). */
export interface RoundArrivals {
  /** round:start messages received. */
  n: number;
  /** Of them, participants that kept silent (silent share, silent round). */
  silent: number;
  firstAt: number;
  lastAt: number;
}

export interface ParticipantProcessStats {
  readonly type: 'stats';
  readonly participants: number;
  readonly silent: number;
  /** round:start messages received, answered and not (silent participants in silent rounds). */
  readonly selected: number;
  readonly answered: number;
  readonly keptSilent: number;
  readonly acks: number;
  readonly rejections: Record<string, number>;
  /** Rejections by the scenario of the round they were for (load-schedule.ts), then by code. */
  readonly rejectionsByScenario: Record<string, Record<string, number>>;
  readonly protocolErrors: Record<string, number>;
  /** Connections that closed before the bench stopped, by reason. */
  readonly disconnects: Record<string, number>;
  readonly connectedAtStop: number;
  readonly arrivals: Record<number, RoundArrivals>;
  /** This process from ready to stop: CPU % of one core and event-loop delay. */
  readonly cpuPercentOfOneCore: number;
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
}

export interface ParticipantProcessReady {
  readonly type: 'ready';
  readonly participants: number;
  readonly joinSeconds: number;
  readonly updateBytes: number;
}

const [url, modelArg, countArg, silentArg, concurrencyArg, warmupArg, blockArg] = process.argv.slice(2);
const kind = parseModelKind(modelArg);
const count = Number(countArg);
const silent = Number(silentArg);
const concurrency = Math.max(1, Number(concurrencyArg));
const warmup = Number(warmupArg);
const block = Number(blockArg);
const send = (m: object) => process.send?.(m);

const bump = (o: Record<string, number>, k: string) => (o[k] = (o[k] ?? 0) + 1);
const sockets: Socket[] = [];
const bots: HonestBot[] = [];
const counts = { selectedSwitchable: 0, keptSilent: 0, acksSwitchable: 0 };
const rejectionsSwitchable: UpdateRejectedMessage[] = [];
const protocolErrors: Record<string, number> = {};
const disconnects: Record<string, number> = {};
const arrivals: Record<number, RoundArrivals> = {};
let stopping = false;

/** Every answer is the same small update, encoded once per round. */
async function preparedUpdates(): Promise<{ encode: (round: number, version: number) => Uint8Array; bytes: number }> {
  const res = await fetch(`${url}${modelApiPath(kind)}`);
  if (!res.ok) throw new Error(`GET ${modelApiPath(kind)}: HTTP ${res.status}`);
  const info = ModelInfoResponseSchema.parse(await res.json());
  const { spec } = createModel(info.model);
  const small: NamedTensors = Object.fromEntries(spec.params.filter((p) => p.scope === 'global').map((p) => [p.name, new Float32Array(elementCount(p.shape)).fill(1e-4)]));
  const tensors = toWireTensors(spec, small);
  let cached: { key: string; bytes: Uint8Array } | null = null;
  const encode = (round: number, version: number): Uint8Array => {
    const key = `${round}:${version}`;
    if (cached?.key !== key) cached = { key, bytes: encodeUpdate({ round, baseVersion: version, numExamples: 5, preClipNorm: 0.01, tensors }) };
    return cached.bytes;
  };
  return { encode, bytes: encode(0, 0).byteLength };
}

function watch(socket: Socket): void {
  sockets.push(socket);
  socket.on(EVENTS.protocolError, (e: ProtocolErrorMessage) => bump(protocolErrors, String(e?.code)));
  socket.on('disconnect', (reason: string) => {
    if (!stopping) bump(disconnects, reason);
  });
  // After the participant's own handler (which answers at once): the time it heard, and answered.
  socket.on(EVENTS.roundStart, (m: { round: number }) => {
    const now = Date.now();
    const a = (arrivals[m.round] ??= { n: 0, silent: 0, firstAt: now, lastAt: now });
    a.n++;
    a.lastAt = now;
  });
}

async function joinOne(i: number, encode: (round: number, version: number) => Uint8Array): Promise<void> {
  if (i < silent) {
    const { socket } = await joinAs(url, kind, {
      beforeJoin: (s) => {
        s.on(EVENTS.roundStart, (m: { round: number; version: number }) => {
          counts.selectedSwitchable++;
          if (scenarioOfRound(m.round, warmup, block) === 'silent') {
            counts.keptSilent++;
            // Runs before watch()'s listener creates the round's entry.
            const now = Date.now();
            (arrivals[m.round] ??= { n: 0, silent: 0, firstAt: now, lastAt: now }).silent++;
          } else s.emit(EVENTS.update, encode(m.round, m.version));
        });
        s.on(EVENTS.updateAck, () => counts.acksSwitchable++);
        s.on(EVENTS.updateRejected, (r: UpdateRejectedMessage) => rejectionsSwitchable.push(r));
      },
    });
    watch(socket);
  } else {
    const bot = await HonestBot.join(url, kind, encode);
    bots.push(bot);
    watch(bot.socket);
  }
}

const loop = monitorEventLoopDelay({ resolution: 10 });
let cpu0 = process.cpuUsage();
let wall0 = performance.now();

async function main(): Promise<void> {
  const { encode, bytes } = await preparedUpdates();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await joinOne(next++, encode);
    }),
  );
  loop.enable();
  cpu0 = process.cpuUsage();
  wall0 = performance.now();
  const ready: ParticipantProcessReady = { type: 'ready', participants: sockets.length, joinSeconds: (performance.now() - t0) / 1000, updateBytes: bytes };
  send(ready);
}

process.on('message', (m: { type?: string }) => {
  if (m?.type !== 'stop') return;
  stopping = true;
  const cpu = process.cpuUsage(cpu0);
  const rejections: Record<string, number> = {};
  const rejectionsByScenario: Record<string, Record<string, number>> = {};
  for (const r of [...rejectionsSwitchable, ...bots.flatMap((b) => b.rejections)]) {
    bump(rejections, r.code);
    bump((rejectionsByScenario[r.round === null ? 'none' : scenarioOfRound(r.round, warmup, block)] ??= {}), r.code);
  }
  const selected = counts.selectedSwitchable + bots.reduce((n, b) => n + b.roundsSelected, 0);
  const stats: ParticipantProcessStats = {
    type: 'stats',
    participants: sockets.length,
    silent: Math.min(silent, sockets.length),
    selected,
    answered: selected - counts.keptSilent,
    keptSilent: counts.keptSilent,
    acks: counts.acksSwitchable + bots.reduce((n, b) => n + b.acks, 0),
    rejections,
    rejectionsByScenario,
    protocolErrors,
    disconnects,
    connectedAtStop: sockets.filter((s) => s.connected).length,
    arrivals,
    cpuPercentOfOneCore: (100 * (cpu.user + cpu.system) / 1e6) / ((performance.now() - wall0) / 1000),
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
  };
  send(stats);
  for (const s of sockets) s.close();
  setTimeout(() => process.exit(0), 200).unref();
});
process.on('disconnect', () => process.exit(0)); // the parent is gone: never linger

main().catch((err: unknown) => {
  send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  setTimeout(() => process.exit(1), 200).unref();
});
