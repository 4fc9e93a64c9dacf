/**
 * A worker thread of the in-process simulation: trains blocks of a round's clients with
 * the fused MF kernel (shared/train/mf-fused-training.ts: training, Δ and clipping in one
 * call per block), exactly as the main thread would. Global weights, user vectors and the
 * train histories live in SharedArrayBuffers (nothing is copied per round); the blocks are
 * claimed from a shared counter (Atomics), so the main thread and the workers split a
 * round dynamically. Each block's result (its own arena, transferred) goes back to the
 * main thread, which aggregates the blocks in the sampled order: results do not depend on
 * the number of threads.
 */
import { parentPort, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { TrainConfig } from '../../shared/model/recommender-model.ts';
import { MfFusedScratch, trainMfClients, type MfClientsResult, type MfFleetTables, type MfKernel } from '../../shared/train/mf-fused-training.ts';

export interface WorkerInit {
  readonly numItems: number;
  readonly dim: number;
  readonly train: TrainConfig;
  /** Which fused kernel trains the clients (mf-fused-training.ts MfFusedOptions.kernel). */
  readonly kernel: MfKernel;
  /** CSR train histories (SharedArrayBuffer views). */
  readonly trainOffsets: Int32Array;
  readonly trainItems: Int32Array;
  /** itemEmbedding (numItems × dim) then itemBias (numItems), written by the main thread between rounds. */
  readonly globals: SharedArrayBuffer | ArrayBuffer;
  /** numUsers × dim user vectors; a client's row is written by the thread that trains it. */
  readonly users: SharedArrayBuffer | ArrayBuffer;
}

export interface WorkerRoundRequest {
  readonly clients: Int32Array;
  readonly seeds: Uint32Array;
  /** The round's L2 clip bound. */
  readonly clipNorm: number;
  /** Clients per block. */
  readonly blockSize: number;
  /** Int32Array(SharedArrayBuffer) [next block to claim]. */
  readonly counter: Int32Array;
}

/** A consumed block's arena buffers, handed back to the trainer that filled them (transferred). */
export interface RecycledArena {
  readonly rows: ArrayBuffer;
  readonly itemEmbedding: ArrayBuffer;
  readonly itemBias: ArrayBuffer;
}

/** Recycled arenas a trainer keeps at most (beyond that they are left to the collector). */
export const MAX_FREE_ARENAS = 16;

/** Posted once per block trained, then `{ done: true }` when no block is left. */
export interface WorkerBlockResult {
  readonly block: number;
  readonly result: MfClientsResult;
}

/**
 * Trains block `b` of a round on this thread. With `fresh`, the result owns a new arena
 * (stays valid after later blocks); without, it reuses the scratch's (valid until the next call).
 */
export function trainBlock(tables: MfFleetTables, req: WorkerRoundRequest, train: TrainConfig, kernel: MfKernel, b: number, scratch: MfFusedScratch, fresh = true): MfClientsResult {
  const a = b * req.blockSize;
  const e = Math.min(req.clients.length, a + req.blockSize);
  if (fresh) scratch.releaseOutput();
  return trainMfClients(tables, req.clients.subarray(a, e), req.seeds.subarray(a, e), { train, clipNorm: req.clipNorm, kernel }, scratch);
}

let state: { init: WorkerInit; tables: MfFleetTables; scratch: MfFusedScratch; recycle: MessagePort; free: RecycledArena[] } | null = null;

/** Takes the arenas the main thread has handed back so far (synchronously, between blocks). */
function drainRecycled(s: NonNullable<typeof state>): void {
  for (let m = receiveMessageOnPort(s.recycle); m; m = receiveMessageOnPort(s.recycle)) {
    if (s.free.length < MAX_FREE_ARENAS) s.free.push(m.message as RecycledArena);
  }
}

parentPort?.on('message', (msg: { init?: WorkerInit; recycle?: MessagePort; round?: WorkerRoundRequest }) => {
  if (msg.init) {
    const { numItems, dim } = msg.init;
    const gv = new Float32Array(msg.init.globals);
    const tables: MfFleetTables = {
      numItems, dim,
      itemEmbedding: gv.subarray(0, numItems * dim),
      itemBias: gv.subarray(numItems * dim),
      users: new Float32Array(msg.init.users),
      historyOffsets: msg.init.trainOffsets,
      historyItems: msg.init.trainItems,
    };
    state = { init: msg.init, tables, scratch: new MfFusedScratch(), recycle: msg.recycle!, free: [] };
    parentPort!.postMessage({ ready: true });
    return;
  }
  if (!msg.round || !state) return;
  const req = msg.round;
  const blocks = Math.ceil(req.clients.length / req.blockSize);
  for (let b = Atomics.add(req.counter, 0, 1); b < blocks; b = Atomics.add(req.counter, 0, 1)) {
    drainRecycled(state);
    const arena = state.free.pop();
    if (arena) state.scratch.reuseOutput(state.init.dim, arena.rows, arena.itemEmbedding, arena.itemBias);
    const result = trainBlock(state.tables, req, state.init.train, state.init.kernel, b, state.scratch, !arena);
    const out: WorkerBlockResult = { block: b, result };
    const buffers = [result.rowOffsets, result.rows, result.itemEmbedding, result.itemBias, result.numExamples, result.loss, result.preClipNorm, result.clipped].map((a) => a.buffer as ArrayBuffer);
    parentPort!.postMessage(out, [...new Set(buffers)]);
  }
  parentPort!.postMessage({ done: true });
});
