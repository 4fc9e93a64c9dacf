/**
 * A worker thread of the in-process simulation: trains a chunk of a round's clients with
 * the typed-array trainer and clips their updates (clipRowSparseToL2), exactly as the
 * main thread would, and returns the clipped row-sparse deltas packed into transferable
 * arrays. Global weights and user vectors live in SharedArrayBuffers written by the main
 * thread (globals, between rounds) and by the worker owning a client (its user vector).
 * Aggregation stays on the main thread, in the sampled order, so results do not depend
 * on the number of workers.
 */
import { parentPort } from 'node:worker_threads';
import { createEmbeddingModel, type PairBatch } from '../../shared/model/embedding-model.ts';
import type { RecommenderModel, TrainConfig } from '../../shared/model/recommender-model.ts';
import { MfScratch, trainMfLocally } from '../../shared/train/mf-typed-array-training.ts';
import { clipRowSparseToL2 } from '../../shared/update/row-sparse-clip.ts';

export interface WorkerInit {
  readonly numItems: number;
  readonly dim: number;
  readonly train: TrainConfig;
  readonly clipNorm: number;
  readonly trainOffsets: Int32Array;
  readonly trainItems: Int32Array;
  readonly globals: SharedArrayBuffer;
  readonly users: SharedArrayBuffer;
}

export interface WorkerRoundRequest {
  readonly clients: Int32Array;
  readonly seeds: Uint32Array;
}

export interface WorkerRoundResult {
  readonly rowCounts: Int32Array;
  readonly rows: Int32Array;
  readonly itemEmbedding: Float32Array;
  readonly itemBias: Float32Array;
  readonly numExamples: Int32Array;
  readonly loss: Float64Array;
  readonly preClipNorm: Float64Array;
  readonly clipped: Uint8Array;
}

let state: { init: WorkerInit; model: RecommenderModel<PairBatch>; scratch: MfScratch } | null = null;

parentPort?.on('message', (msg: { init?: WorkerInit; round?: WorkerRoundRequest }) => {
  if (msg.init) {
    state = { init: msg.init, model: createEmbeddingModel({ numItems: msg.init.numItems, dim: msg.init.dim }) as RecommenderModel<PairBatch>, scratch: new MfScratch() };
    parentPort!.postMessage({ ready: true });
    return;
  }
  if (!msg.round || !state) return;
  const { init, model, scratch } = state;
  const { dim, numItems } = init;
  const gv = new Float32Array(init.globals);
  const globals = { itemEmbedding: gv.subarray(0, numItems * dim), itemBias: gv.subarray(numItems * dim) };
  const users = new Float32Array(init.users);
  const { clients, seeds } = msg.round;
  const n = clients.length;
  const rowCounts = new Int32Array(n);
  const numExamples = new Int32Array(n);
  const loss = new Float64Array(n);
  const preClipNorm = new Float64Array(n);
  const clipped = new Uint8Array(n);
  const rowsParts: Int32Array[] = [];
  const embParts: Float32Array[] = [];
  const biasParts: Float32Array[] = [];
  let total = 0;
  for (let c = 0; c < n; c++) {
    const u = clients[c];
    const userVec = users.subarray(u * dim, u * dim + dim);
    const history = init.trainItems.subarray(init.trainOffsets[u], init.trainOffsets[u + 1]);
    const res = trainMfLocally(model, dim, globals, userVec, history, init.train, seeds[c], scratch);
    const clip = clipRowSparseToL2({ itemEmbedding: { rows: res.delta.rows, data: res.delta.itemEmbedding }, itemBias: { rows: res.delta.rows, data: res.delta.itemBias } }, init.clipNorm);
    userVec.set(res.userEmbedding);
    rowCounts[c] = res.delta.rows.length;
    numExamples[c] = res.numExamples;
    loss[c] = res.loss;
    preClipNorm[c] = clip.preClipNorm;
    clipped[c] = clip.clipped ? 1 : 0;
    rowsParts.push(res.delta.rows);
    embParts.push(clip.tensors.itemEmbedding.data);
    biasParts.push(clip.tensors.itemBias.data);
    total += res.delta.rows.length;
  }
  const rows = new Int32Array(total);
  const itemEmbedding = new Float32Array(total * dim);
  const itemBias = new Float32Array(total);
  let off = 0;
  for (let c = 0; c < n; c++) {
    rows.set(rowsParts[c], off);
    itemEmbedding.set(embParts[c], off * dim);
    itemBias.set(biasParts[c], off);
    off += rowCounts[c];
  }
  const result: WorkerRoundResult = { rowCounts, rows, itemEmbedding, itemBias, numExamples, loss, preClipNorm, clipped };
  parentPort!.postMessage({ result }, [rowCounts.buffer, rows.buffer, itemEmbedding.buffer, itemBias.buffer, numExamples.buffer, loss.buffer, preClipNorm.buffer, clipped.buffer]);
});
