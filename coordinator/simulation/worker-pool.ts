/**
 * worker_threads for the in-process simulation: a round's sampled clients are cut into
 * contiguous chunks, one per worker; each worker trains and clips its chunk
 * (simulation-worker.ts) and the main thread folds the results in the sampled order.
 */
import { Worker } from 'node:worker_threads';
import type { WorkerInit, WorkerRoundResult } from './simulation-worker.ts';

export class SimulationWorkerPool {
  private constructor(private readonly workers: Worker[]) {}

  static async start(count: number, init: WorkerInit): Promise<SimulationWorkerPool> {
    // The worker is TypeScript: register tsx's loader inside it first (loader hooks are
    // per thread, and the test runner does not pass --import tsx on to workers).
    const worker = new URL('./simulation-worker.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(worker)}); });`;
    const workers = Array.from({ length: count }, () => new Worker(boot, { eval: true }));
    await Promise.all(workers.map((w) => request<{ ready: boolean }>(w, { init })));
    return new SimulationWorkerPool(workers);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Trains `clients` (with their seeds) across the workers; results in client order, per chunk. */
  async round(clients: Int32Array, seeds: Uint32Array): Promise<WorkerRoundResult[]> {
    const k = this.workers.length;
    const chunk = Math.ceil(clients.length / k);
    const jobs: Promise<{ result: WorkerRoundResult }>[] = [];
    for (let w = 0; w < k; w++) {
      const a = Math.min(clients.length, w * chunk);
      const b = Math.min(clients.length, a + chunk);
      jobs.push(request(this.workers[w], { round: { clients: clients.slice(a, b), seeds: seeds.slice(a, b) } }));
    }
    return (await Promise.all(jobs)).map((j) => j.result);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function request<T>(w: Worker, msg: unknown): Promise<T> {
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
