/**
 * worker_threads for the in-process simulation's MF clients. `threads` trainers: the main
 * thread and threads − 1 workers (simulation-worker.ts). A round's sampled clients are cut
 * into blocks that every trainer claims from one shared counter (Atomics), so a loaded core
 * simply takes fewer blocks; the item table, user vectors and histories are
 * SharedArrayBuffers (never copied). The main thread hands the blocks to `consume` strictly
 * in block order (= the sampled order) as soon as each is ready, training blocks itself
 * while it waits: aggregation overlaps training, and the results do not depend on the
 * number of threads.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { TrainConfig } from '../../shared/model/recommender-model.ts';
import { MfFusedScratch, type MfClientsResult, type MfFleetTables, type MfKernel } from '../../shared/train/mf-fused-training.ts';
import { MAX_FREE_ARENAS, trainBlock, type RecycledArena, type WorkerBlockResult, type WorkerInit, type WorkerRoundRequest } from './simulation-worker.ts';

/** Clients per block: small enough to balance two loaded cores, large enough to amortise a message. */
export const CLIENTS_PER_BLOCK = 32;

export class SimulationWorkerPool {
  private readonly scratch = new MfFusedScratch();
  private readonly freeArenas: RecycledArena[] = [];

  private constructor(
    private readonly workers: Worker[],
    private readonly recyclePorts: MessagePort[],
    private readonly tables: MfFleetTables,
    private readonly train: TrainConfig,
    private readonly kernel: MfKernel,
  ) {}

  /** Starts threads − 1 workers over the tables (SharedArrayBuffers when threads > 1; plain buffers do for 1). */
  static async start(threads: number, init: WorkerInit): Promise<SimulationWorkerPool> {
    // The worker is TypeScript: register tsx's loader inside it first (loader hooks are
    // per thread, and the test runner does not pass --import tsx on to workers).
    const worker = new URL('./simulation-worker.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(worker)}); });`;
    const workers = Array.from({ length: Math.max(0, threads - 1) }, () => new Worker(boot, { eval: true }));
    const channels = workers.map(() => new MessageChannel());
    await Promise.all(workers.map((w, i) => once<{ ready: boolean }>(w, { init, recycle: channels[i].port2 }, [channels[i].port2])));
    const { numItems, dim } = init;
    const gv = new Float32Array(init.globals);
    const tables: MfFleetTables = {
      numItems, dim,
      itemEmbedding: gv.subarray(0, numItems * dim),
      itemBias: gv.subarray(numItems * dim),
      users: new Float32Array(init.users),
      historyOffsets: init.trainOffsets,
      historyItems: init.trainItems,
    };
    return new SimulationWorkerPool(workers, channels.map((c) => c.port1), tables, init.train, init.kernel);
  }

  /** Trainers, the main thread included. */
  get size(): number {
    return this.workers.length + 1;
  }

  /**
   * Trains `clients` (with their seeds) at clip bound `clipNorm` across all trainers and
   * calls `consume(first, result)` for each block in order (`first` = index in `clients`
   * of the block's first client). Resolves when every block has been consumed.
   */
  async round(
    clients: Int32Array,
    seeds: Uint32Array,
    clipNorm: number,
    consume: (first: number, r: MfClientsResult) => void,
  ): Promise<void> {
    // consume() keeps nothing of a block after it returns (RoundAggregation folds or copies):
    // alone, the main thread trains every block into one reused arena.
    const reuse = this.workers.length === 0;
    const blockSize = CLIENTS_PER_BLOCK;
    const blocks = Math.ceil(clients.length / blockSize);
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const req: WorkerRoundRequest = { clients, seeds, clipNorm, blockSize, counter };
    // Each ready block and who trained it (−1: this thread), so its arena goes back to that trainer once consumed.
    const ready = new Map<number, { result: MfClientsResult; trainer: number }>();
    let wake: (() => void) | null = null;
    let failure: Error | null = null;
    const listeners = this.workers.map((w, trainer) => {
      const onMessage = (m: WorkerBlockResult | { done: true }) => {
        if ('block' in m) ready.set(m.block, { result: m.result, trainer });
        wake?.();
      };
      const onError = (e: Error) => {
        failure = e;
        wake?.();
      };
      w.on('message', onMessage);
      w.on('error', onError);
      w.postMessage({ round: req });
      return () => {
        w.off('message', onMessage);
        w.off('error', onError);
      };
    });
    try {
      let next = 0;
      while (next < blocks) {
        if (failure) throw failure;
        const r = ready.get(next);
        if (r) {
          ready.delete(next);
          consume(next * blockSize, r.result);
          if (!reuse) this.recycle(r.trainer, r.result);
          next++;
          continue;
        }
        const b = Atomics.add(counter, 0, 1);
        if (b < blocks) {
          const fresh = !reuse && !this.adoptFreeArena();
          ready.set(b, { result: trainBlock(this.tables, req, this.train, this.kernel, b, this.scratch, fresh), trainer: -1 });
          // Let the workers' messages in before looking again.
          if (this.workers.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        } else {
          await new Promise<void>((resolve) => {
            wake = resolve;
            if (ready.has(next) || failure) resolve();
          });
          wake = null;
        }
      }
    } finally {
      for (const off of listeners) off();
    }
  }

  /**
   * A consumed block's arena back to the trainer that filled it: to a worker over its
   * recycle port (transferred, no copy), or onto this thread's free list. Trainers reuse
   * these before allocating, so a round's arenas are recycled instead of collected.
   */
  private recycle(trainer: number, r: MfClientsResult): void {
    const arena: RecycledArena = { rows: r.rows.buffer as ArrayBuffer, itemEmbedding: r.itemEmbedding.buffer as ArrayBuffer, itemBias: r.itemBias.buffer as ArrayBuffer };
    if (trainer < 0) {
      if (this.freeArenas.length < MAX_FREE_ARENAS) this.freeArenas.push(arena);
      return;
    }
    this.recyclePorts[trainer].postMessage(arena, [arena.rows, arena.itemEmbedding, arena.itemBias]);
  }

  /** Points this thread's scratch at a recycled arena if there is one. */
  private adoptFreeArena(): boolean {
    const a = this.freeArenas.pop();
    if (!a) return false;
    this.scratch.reuseOutput(this.tables.dim, a.rows, a.itemEmbedding, a.itemBias);
    return true;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function once<T>(w: Worker, msg: unknown, transfer: Transferable[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: T) => {
      w.off('error', onError);
      resolve(m);
    };
    const onError = (e: Error) => {
      w.off('message', onMessage);
      reject(e);
    };
    w.once('message', onMessage);
    w.once('error', onError);
    w.postMessage(msg, transfer as never);
  });
}
