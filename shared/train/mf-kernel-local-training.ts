/**
 * Local training of the MF model on the typed-array kernels instead of TensorFlow.js: the
 * browser's non-GPU path (a page on the wasm or cpu backend), where a tfjs step costs
 * milliseconds of overhead whatever its size. Returns what trainLocally returns (trained
 * GLOBAL and LOCAL parameters, last-epoch loss, examples, steps), so the participant's
 * update path (buildUpdate: Δ, L2 clipping, encoding) runs unchanged after it.
 *
 * Same seed, same draws: every kernel replays trainLocally's batches (SeededRandom(seed),
 * model.makeBatches' shuffle and rejection-sampled negatives), and each is within 1e-5 per
 * SGD step of tfjs (mf-fused-training.test.ts, mf-tower-training.test.ts, and this file's test).
 *
 * Which kernel:
 * - the model with the item-feature tower → trainMfTowerLocally (JS, 'mf-tower-js');
 * - plain MF → trainMfClients for one client (mf-fused-training.ts): the WebAssembly SIMD
 *   kernel ('mf-wasm-simd') where it loaded and dim % 4 === 0, else the JS kernel ('mf-js');
 * - plain MF with retired items → trainMfLocally ('mf-js'): the fused kernels do not know
 *   retired items, which makeBatches never draws as negatives.
 *
 * No clipping here: the kernels run with clipNorm Infinity (the unclipped Δ) and buildUpdate
 * clips once, as it does after tfjs.
 */
import { FlockError } from '../errors.ts';
import type { PairBatch } from '../model/embedding-model.ts';
import type { MfModelDescriptor } from '../model/model-registry.ts';
import type { RecommenderModel, TrainConfig } from '../model/recommender-model.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import type { LocalTrainingResult } from './local-training.ts';
import { MfFusedScratch, trainMfClients } from './mf-fused-training.ts';
import { trainMfTowerLocally, type MfTowerGlobals } from './mf-tower-training.ts';
import { MfScratch, trainMfLocally } from './mf-typed-array-training.ts';
import { MfWasmKernel } from './mf-wasm-kernel.ts';

/** Which code trained a round locally: TensorFlow.js on the active backend, or one of the MF kernels. */
export const LOCAL_TRAINERS = ['tfjs', 'mf-wasm-simd', 'mf-js', 'mf-tower-js'] as const;
export type LocalTrainer = (typeof LOCAL_TRAINERS)[number];

/** A Δ of touched rows (ascending), `width` values per row. */
interface RowDelta {
  readonly rows: ArrayLike<number>;
  readonly data: Float32Array;
}

/** base + Δ on the listed rows, a fresh copy elsewhere (what trainLocally's trained table holds there). */
function applyRows(base: Float32Array, delta: RowDelta, width: number): Float32Array {
  const out = Float32Array.from(base);
  for (let s = 0; s < delta.rows.length; s++) {
    const at = delta.rows[s] * width;
    for (let d = 0; d < width; d++) out[at + d] += delta.data[s * width + d];
  }
  return out;
}

/** Refuses inputs the kernels would read out of bounds (a typed 'wrong-shape' or 'bad-data' error). */
function checkInputs(d: MfModelDescriptor, globals: NamedTensors, locals: NamedTensors, history: Int32Array): void {
  const want: [string, NamedTensors, number][] = [['itemEmbedding', globals, d.numItems * d.dim], ['itemBias', globals, d.numItems], ['userEmbedding', locals, d.dim]];
  if (d.itemFeatures) want.push(['featureEmbedding', globals, d.itemFeatures.buckets * d.dim], ['featureBias', globals, d.itemFeatures.buckets]);
  for (const [name, src, n] of want) {
    if (src[name]?.length !== n) throw new FlockError('wrong-shape', `MF kernel training needs ${name} of ${n} values, got ${src[name]?.length ?? 'none'}`);
  }
  for (const i of history) if (!(i >= 0 && i < d.numItems)) throw new FlockError('bad-data', `history item ${i} is outside the catalog of ${d.numItems} items`);
}

/** SGD steps trainOnBatches takes: per epoch, the batches grouped by accumulationSteps. */
function stepsOf(len: number, cfg: TrainConfig): number {
  const batches = Math.ceil(len / cfg.batchSize);
  return cfg.localEpochs * Math.ceil(batches / Math.max(1, Math.floor(cfg.accumulationSteps ?? 1)));
}

/**
 * One device's MF kernel trainer: the WebAssembly SIMD kernel loaded once (asynchronously,
 * as a browser main thread requires) and scratch reused across rounds.
 */
export class MfKernelTrainer {
  private readonly fused: MfFusedScratch;
  private readonly scratch = new MfScratch();

  private constructor(
    private readonly wasm: MfWasmKernel | null,
    /** Why the WebAssembly SIMD kernel is not used (plain MF then trains on the JS kernel); null when it loaded. */
    readonly wasmProblem: string | null,
  ) {
    this.fused = new MfFusedScratch(wasm ? { wasmKernel: wasm } : {});
  }

  /** Loads the WebAssembly SIMD kernel (async compile); never rejects: a failure is kept in wasmProblem. */
  static async load(): Promise<MfKernelTrainer> {
    try {
      return new MfKernelTrainer(await MfWasmKernel.load(), null);
    } catch (err) {
      return new MfKernelTrainer(null, err instanceof Error ? err.message : String(err));
    }
  }

  /** A trainer that never uses the wasm kernel (the JS kernels only). */
  static jsOnly(reason: string): MfKernelTrainer {
    return new MfKernelTrainer(null, reason);
  }

  /** The kernel that trains this model. */
  trainerFor(d: MfModelDescriptor): Exclude<LocalTrainer, 'tfjs'> {
    if (d.itemFeatures) return 'mf-tower-js';
    return this.wasm && MfWasmKernel.supportsDim(d.dim) && !(d.retiredItems?.length) ? 'mf-wasm-simd' : 'mf-js';
  }

  /**
   * trainLocally(model, globals, locals, history, cfg, seed) on the kernels. `model` is
   * createModel(d) (its makeBatches draws the batches of the tower and retired-item paths).
   * Bad shapes or history ids: a typed error, nothing trained.
   */
  train(
    d: MfModelDescriptor,
    model: RecommenderModel,
    globals: NamedTensors,
    locals: NamedTensors,
    history: Int32Array,
    cfg: TrainConfig,
    seed: number,
  ): LocalTrainingResult & { readonly trainer: Exclude<LocalTrainer, 'tfjs'> } {
    checkInputs(d, globals, locals, history);
    const trainer = this.trainerFor(d);
    const { dim } = d;
    if (history.length === 0) {
      // As trainOnBatches with no batch: nothing changes, loss 0.
      const copy = (t: NamedTensors) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Float32Array.from(v)]));
      return { globals: copy(globals), locals: copy(locals), loss: 0, numExamples: 0, steps: 0, trainer };
    }
    const mf = model as RecommenderModel<PairBatch>; // createModel of an 'mf' descriptor is the embedding model
    const itemEmbedding = globals.itemEmbedding as Float32Array;
    const itemBias = globals.itemBias as Float32Array;
    if (trainer === 'mf-tower-js') {
      const r = trainMfTowerLocally(mf, dim, d.itemFeatures!, globals as unknown as MfTowerGlobals, locals.userEmbedding, history, cfg, seed, Infinity, this.scratch);
      return {
        globals: {
          itemEmbedding: applyRows(itemEmbedding, r.delta.itemEmbedding, dim),
          itemBias: applyRows(itemBias, r.delta.itemBias, 1),
          featureEmbedding: applyRows(globals.featureEmbedding, r.delta.featureEmbedding, dim),
          featureBias: applyRows(globals.featureBias, r.delta.featureBias, 1),
        },
        locals: { userEmbedding: r.userEmbedding },
        loss: r.loss,
        numExamples: r.numExamples,
        steps: r.steps,
        trainer,
      };
    }
    if (d.retiredItems?.length) {
      const r = trainMfLocally(mf, dim, { itemEmbedding, itemBias }, locals.userEmbedding, history, cfg, seed, this.scratch);
      return {
        globals: { itemEmbedding: applyRows(itemEmbedding, { rows: r.delta.rows, data: r.delta.itemEmbedding }, dim), itemBias: applyRows(itemBias, { rows: r.delta.rows, data: r.delta.itemBias }, 1) },
        locals: { userEmbedding: r.userEmbedding },
        loss: r.loss,
        numExamples: r.numExamples,
        steps: r.steps,
        trainer,
      };
    }
    const user = Float32Array.from(locals.userEmbedding);
    const tables = { numItems: d.numItems, dim, itemEmbedding, itemBias, users: user, historyOffsets: Int32Array.from([0, history.length]), historyItems: history };
    const kernel = trainer === 'mf-wasm-simd' ? 'wasm' : 'js';
    const r = trainMfClients(tables, [0], [seed], { train: cfg, clipNorm: Infinity, kernel }, this.fused);
    return {
      globals: { itemEmbedding: applyRows(itemEmbedding, { rows: r.rows, data: r.itemEmbedding }, dim), itemBias: applyRows(itemBias, { rows: r.rows, data: r.itemBias }, 1) },
      locals: { userEmbedding: user },
      loss: r.loss[0],
      numExamples: r.numExamples[0],
      steps: stepsOf(history.length, cfg),
      trainer,
    };
  }
}
