/**
 * A whole secure-aggregation round in one process: SecAggClient per participant and one
 * SecAggServer, messages passed by value exactly as the wire would carry them. For the
 * simulation (`flock simulate --secure-aggregation`), tests and the cost benchmark.
 */
import type { UniformSource } from '../random/secure-random.ts';
import type { SecAggParams } from './secagg-params.ts';
import type { SecAggSum } from './secagg-server.ts';

/** Who vanishes, and when: before advertising keys, after advertising, after sending shares, after sending the masked input. */
export interface SecAggDropouts {
  readonly beforeKeys?: readonly string[];
  readonly afterKeys?: readonly string[];
  readonly afterShares?: readonly string[];
  readonly afterMaskedInput?: readonly string[];
}

export interface SecAggRoundOptions {
  readonly drop?: SecAggDropouts;
  readonly rounding?: UniformSource;
  /** Measure each client's and the server's CPU time and bytes (performance.now around each step). */
  readonly measure?: boolean;
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
  void params;
  void updates;
  void options;
  throw new Error('not implemented yet');
}
