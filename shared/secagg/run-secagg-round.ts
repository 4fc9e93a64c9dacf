/**
 * A whole secure-aggregation round in one process: one SecAggClient per participant and
 * one SecAggServer, every message passed exactly as the wire would carry it (the same
 * objects the zod schemas accept). For the simulation (`flock simulate
 * --secure-aggregation`), tests and the cost benchmark (coordinator/bench/secagg-cost.ts).
 */
import type { UniformSource } from '../random/secure-random.ts';
import { SecAggClient } from './secagg-client.ts';
import { messageBytes } from './secagg-messages.ts';
import type { SecAggParams } from './secagg-params.ts';
import { SecAggServer, type SecAggSum } from './secagg-server.ts';
import { SecAggError } from './secagg-error.ts';

/** Who vanishes, and when: before advertising keys, after advertising, after sending shares, after sending the masked input. */
export interface SecAggDropouts {
  readonly beforeKeys?: readonly string[];
  readonly afterKeys?: readonly string[];
  readonly afterShares?: readonly string[];
  readonly afterMaskedInput?: readonly string[];
}

export interface SecAggRoundOptions {
  readonly drop?: SecAggDropouts;
  /** Stochastic-rounding source shared by all clients (default: each client's CSPRNG). */
  readonly rounding?: UniformSource;
  /** Measure each client's and the server's time (`clock` around each step) and bytes. */
  readonly measure?: boolean;
  /** Milliseconds for `measure` (default performance.now; a benchmark passes a CPU-time clock). */
  readonly clock?: () => number;
}

export interface SecAggParticipantCost {
  readonly cpuMs: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

export interface SecAggRoundResult extends SecAggSum {
  /** Present with `measure`: per participant that took part in at least one step. */
  readonly clientCost?: ReadonlyMap<string, SecAggParticipantCost>;
  readonly serverCpuMs?: number;
}

/** Runs the round; throws SecAggError('too-many-dropped') when it cannot complete. */
export function runSecAggRound(params: SecAggParams, updates: ReadonlyMap<string, Float32Array>, options: SecAggRoundOptions = {}): SecAggRoundResult {
  for (const id of params.participants) {
    if (!updates.has(id)) throw new SecAggError('bad-params', `no update for participant ${id}`);
  }
  const drop = options.drop ?? {};
  const gone = new Set<string>();
  const leave = (ids: readonly string[] | undefined) => ids?.forEach((id) => gone.add(id));
  const measure = options.measure === true;
  const cost = new Map<string, { cpuMs: number; bytesSent: number; bytesReceived: number }>();
  let serverCpuMs = 0;
  const clock = options.clock ?? (() => performance.now());
  const now = () => (measure ? clock() : 0);
  const costOf = (id: string) => {
    let c = cost.get(id);
    if (!c) cost.set(id, (c = { cpuMs: 0, bytesSent: 0, bytesReceived: 0 }));
    return c;
  };
  /** Runs one client step, charging its time and traffic (what it returns is sent, unless `sends` is false). */
  const onClient = <T>(id: string, received: unknown, step: () => T, sends = true): T => {
    const t0 = now();
    const out = step();
    if (measure) {
      const c = costOf(id);
      c.cpuMs += now() - t0;
      if (received !== undefined) c.bytesReceived += messageBytes(received);
      if (sends) c.bytesSent += messageBytes(out);
    }
    return out;
  };
  const onServer = <T>(step: () => T): T => {
    const t0 = now();
    const out = step();
    serverCpuMs += now() - t0;
    return out;
  };

  const server = onServer(() => new SecAggServer(params));
  const clients = new Map<string, SecAggClient>();
  leave(drop.beforeKeys);
  for (const id of params.participants) {
    if (gone.has(id)) continue;
    // the round announcement (params, with every participant's id) is received; constructing the client sends nothing
    const client = onClient(id, params, () => new SecAggClient(params, id, { rounding: options.rounding }), false);
    clients.set(id, client);
    const ad = onClient(id, undefined, () => client.advertiseKeys());
    onServer(() => server.receiveKeys(ad));
  }
  leave(drop.afterKeys);
  const neighbourKeys = onServer(() => server.closeKeys());
  for (const [id, msg] of neighbourKeys) {
    if (gone.has(id)) continue;
    const out = onClient(id, msg, () => clients.get(id)!.shareKeys(msg));
    onServer(() => server.receiveShares(out));
  }
  leave(drop.afterShares);
  const sharesForMe = onServer(() => server.closeShares());
  for (const [id, msg] of sharesForMe) {
    if (gone.has(id)) continue;
    const out = onClient(id, msg, () => clients.get(id)!.maskedInput(msg, updates.get(id)!));
    onServer(() => server.receiveMaskedInput(out));
  }
  leave(drop.afterMaskedInput);
  const request = onServer(() => server.closeMaskedInputs());
  for (const id of request.survivors) {
    if (gone.has(id)) continue;
    const mine = onServer(() => server.unmaskRequestFor(id));
    const out = onClient(id, mine, () => clients.get(id)!.unmask(mine));
    onServer(() => server.receiveUnmaskResponse(out));
  }
  const sum = onServer(() => server.finish());
  return measure ? { ...sum, clientCost: cost, serverCpuMs } : sum;
}
