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
import { Worker } from 'node:worker_threads';
import type { TrainConfig } from '../../shared/model/recommender-model.ts';
import { MfFusedScratch, type MfClientsResult, type MfFleetTables, type MfKernel } from '../../shared/train/mf-fused-training.ts';
import { trainBlock, type WorkerBlockResult, type WorkerInit, type WorkerRoundRequest } from './simulation-worker.ts';

/** Clients per block: small enough to balance two loaded cores, large enough to amortise a message. */
export const CLIENTS_PER_BLOCK = 32;

export class SimulationWorkerPool {
  private readonly scratch = new MfFusedScratch();

  private constructor(
    private readonly workers: Worker[],
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
    await Promise.all(workers.map((w) => once<{ ready: boolean }>(w, { init })));
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
    return new SimulationWorkerPool(workers, tables, init.train, init.kernel);
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
    const ready = new Map<number, MfClientsResult>();
    let wake: (() => void) | null = null;
    let failure: Error | null = null;
    const listeners = this.workers.map((w) => {
      const onMessage = (m: WorkerBlockResult | { done: true }) => {
        if ('block' in m) ready.set(m.block, m.result);
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
          consume(next * blockSize, r);
          next++;
          continue;
        }
        const b = Atomics.add(counter, 0, 1);
        if (b < blocks) {
          ready.set(b, trainBlock(this.tables, req, this.train, this.kernel, b, this.scratch, !reuse));
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

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function once<T>(w: Worker, msg: unknown): Promise<T> {
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
    w.postMessage(msg);
  });
}
