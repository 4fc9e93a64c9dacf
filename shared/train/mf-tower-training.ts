/**
 * Local training of the MF model WITH the item feature tower (shared/model/item-feature-tower.ts)
 * on plain Float32Arrays, for research runs (the replay's tower arms): the same objective,
 * batches and plain SGD as `createEmbeddingModel({ ..., itemFeatures })` run through
 * `trainLocally`, with hand-derived gradients. Parity with the tfjs path is a unit test
 * (mf-tower-training.test.ts).
 *
 * Each step scores with the tower's item vectors and biases
 *   v_i = E_i + (1/|F_i|) Σ_{f ∈ F_i} W_f,   b_i = c_i + (1/|F_i|) Σ_{f ∈ F_i} a_f
 * so the loss and its gradient in (v_i, b_i) are exactly the plain MF model's
 * (mfAccumulateGradients, mf-typed-array-training.ts, run on the composed rows); the
 * chain rule then sends ∂L/∂v_i to the free row E_i unchanged and (1/|F_i|)·∂L/∂v_i to
 * each feature row W_f (biases likewise), summed over the items sharing a feature.
 *
 * Works on a compact copy of the touched item rows and of their items' feature rows and
 * returns the Δ of only those rows (row-sparse, rows ascending), L2-clipped over all four
 * tensors (clipRowSparseToL2).
 */
import type { PairBatch } from '../model/embedding-model.ts';
import type { ItemFeatureTable } from '../model/item-feature-tower.ts';
import type { RecommenderModel, TrainConfig } from '../model/recommender-model.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { deltaL2Norm } from '../update/check-update.ts';
import { clipRowSparseToL2, type RowSparseTensor } from '../update/row-sparse-clip.ts';
import { mfAccumulateGradients, mfApplyGradients, mfClearGradients, MfScratch } from './mf-typed-array-training.ts';

/** The GLOBAL parameters of the MF model with the tower. */
export interface MfTowerGlobals {
  readonly itemEmbedding: Float32Array;
  readonly itemBias: Float32Array;
  readonly featureEmbedding: Float32Array;
  readonly featureBias: Float32Array;
}

export type MfTowerDelta = Record<'itemEmbedding' | 'itemBias' | 'featureEmbedding' | 'featureBias', RowSparseTensor>;

export interface MfTowerLocalResult {
  /** Δ of the touched rows, clipped to `clipNorm` (unclipped when clipNorm is Infinity). */
  readonly delta: MfTowerDelta;
  readonly preClipNorm: number;
  readonly clipped: boolean;
  /** The user's embedding after training (LOCAL, never sent). */
  readonly userEmbedding: Float32Array;
  /** Mean batch loss over the last epoch (as trainOnBatches reports it). */
  readonly loss: number;
  /** Positives seen in one epoch (the FedAvg weight). */
  readonly numExamples: number;
  readonly steps: number;
}

/** Distinct values of `arrays`, ascending. */
function sortedDistinct(arrays: Iterable<ArrayLike<number>>): Int32Array {
  const seen = new Set<number>();
  for (const a of arrays) for (let j = 0; j < a.length; j++) seen.add(a[j]);
  return Int32Array.from(seen).sort();
}

/**
 * A client's local training with the tower: batches exactly as trainLocally makes them
 * (model.makeBatches with SeededRandom(seed), one call per epoch), gradient accumulation
 * as trainOnBatches, SGD on every touched free row, item bias, feature row and feature
 * bias, and Δ = w_local − w_v of those rows in float32.
 */
export function trainMfTowerLocally(
  model: RecommenderModel<PairBatch>,
  dim: number,
  table: ItemFeatureTable,
  globals: MfTowerGlobals,
  userEmbedding: Float32Array,
  history: Int32Array,
  cfg: TrainConfig,
  seed: number,
  clipNorm = Infinity,
  scratch: MfScratch = new MfScratch(),
): MfTowerLocalResult {
  const rng = new SeededRandom(seed);
  const epochs: PairBatch[][] = [];
  for (let e = 0; e < cfg.localEpochs; e++) epochs.push(model.makeBatches(history, cfg, model.numItems, rng));

  // Working sets: touched items (slots 0..W-1) and their features (slots 0..F-1), both ascending.
  const rows = sortedDistinct(epochs.flatMap((bs) => bs.flatMap((b) => [b.positives, b.negatives])));
  const W = rows.length;
  const slot = new Map<number, number>();
  rows.forEach((r, s) => slot.set(r, s));
  const featureRows = sortedDistinct(Array.from(rows, (r) => table.ids.slice(table.offsets[r], table.offsets[r + 1])));
  const F = featureRows.length;
  const featureSlot = new Map<number, number>();
  featureRows.forEach((f, s) => featureSlot.set(f, s));
  // Item slot s's features: featureSlots[featStart[s]..featStart[s+1]], each with weight 1/count.
  const featStart = new Int32Array(W + 1);
  const featureSlots: number[] = [];
  for (let s = 0; s < W; s++) {
    for (let k = table.offsets[rows[s]]; k < table.offsets[rows[s] + 1]; k++) featureSlots.push(featureSlot.get(table.ids[k])!);
    featStart[s + 1] = featureSlots.length;
  }

  const free = new Float32Array(W * dim);
  const freeBias = new Float32Array(W);
  for (let s = 0; s < W; s++) {
    free.set(globals.itemEmbedding.subarray(rows[s] * dim, rows[s] * dim + dim), s * dim);
    freeBias[s] = globals.itemBias[rows[s]];
  }
  const feat = new Float32Array(F * dim);
  const featBias = new Float32Array(F);
  for (let s = 0; s < F; s++) {
    feat.set(globals.featureEmbedding.subarray(featureRows[s] * dim, featureRows[s] * dim + dim), s * dim);
    featBias[s] = globals.featureBias[featureRows[s]];
  }
  // The composed rows (free + tower) the loss reads; refreshed for a step's touched items.
  const vec = new Float32Array(W * dim);
  const bias = new Float32Array(W);
  const gradFeat = new Float64Array(F * dim);
  const gradFeatBias = new Float64Array(F);
  const user = Float32Array.from(userEmbedding);
  let maxRows = 0;
  for (const bs of epochs) for (const b of bs) maxRows = Math.max(maxRows, b.positives.length + b.negatives.length);
  scratch.ensure(dim, maxRows, W, 0);
  const { gradV, gradB } = scratch;

  const accumulate = Math.max(1, Math.floor(cfg.accumulationSteps ?? 1));
  let steps = 0;
  let lastEpochLoss = 0;
  let numExamples = 0;
  for (const batches of epochs) {
    let sum = 0;
    let examples = 0;
    for (let g = 0; g < batches.length; g += accumulate) {
      const group = batches.slice(g, g + accumulate);
      const remapped = group.map((b) => ({ pos: Int32Array.from(b.positives, (i) => slot.get(i)!), neg: Int32Array.from(b.negatives, (i) => slot.get(i)!) }));
      const touched = sortedDistinct(remapped.flatMap((x) => [x.pos, x.neg]));
      for (const s of touched) {
        const a = featStart[s];
        const b = featStart[s + 1];
        const w = 1 / (b - a);
        let bs = freeBias[s];
        for (let k = a; k < b; k++) bs += w * featBias[featureSlots[k]];
        bias[s] = bs;
        for (let d = 0; d < dim; d++) {
          let v = free[s * dim + d];
          for (let k = a; k < b; k++) v += w * feat[featureSlots[k] * dim + d];
          vec[s * dim + d] = v;
        }
      }
      mfClearGradients(scratch, dim, touched);
      for (const { pos, neg } of remapped) sum += mfAccumulateGradients(vec, bias, user, dim, pos, neg, cfg.l2, scratch);
      // Chain rule into the feature rows, before the free rows and the user step.
      const touchedFeatures = new Set<number>();
      for (const s of touched) {
        const a = featStart[s];
        const b = featStart[s + 1];
        const w = 1 / (b - a);
        for (let k = a; k < b; k++) {
          const f = featureSlots[k];
          touchedFeatures.add(f);
          gradFeatBias[f] += w * gradB[s];
          for (let d = 0; d < dim; d++) gradFeat[f * dim + d] += w * gradV[s * dim + d];
        }
      }
      mfApplyGradients(free, freeBias, user, dim, cfg.learningRate, group.length, scratch, touched);
      const lr = cfg.learningRate;
      for (const f of touchedFeatures) {
        featBias[f] -= lr * (gradFeatBias[f] / group.length);
        gradFeatBias[f] = 0;
        for (let d = 0; d < dim; d++) {
          feat[f * dim + d] -= lr * (gradFeat[f * dim + d] / group.length);
          gradFeat[f * dim + d] = 0;
        }
      }
      for (const b of group) examples += b.positives.length;
      steps++;
    }
    if (batches.length > 0) lastEpochLoss = sum / batches.length;
    numExamples = examples;
  }

  // Δ in float32, like globalDelta.
  for (let s = 0; s < W; s++) {
    for (let d = 0; d < dim; d++) free[s * dim + d] -= globals.itemEmbedding[rows[s] * dim + d];
    freeBias[s] -= globals.itemBias[rows[s]];
  }
  for (let s = 0; s < F; s++) {
    for (let d = 0; d < dim; d++) feat[s * dim + d] -= globals.featureEmbedding[featureRows[s] * dim + d];
    featBias[s] -= globals.featureBias[featureRows[s]];
  }
  const raw: MfTowerDelta = {
    itemEmbedding: { rows, data: free },
    itemBias: { rows, data: freeBias },
    featureEmbedding: { rows: featureRows, data: feat },
    featureBias: { rows: featureRows, data: featBias },
  };
  const out = Number.isFinite(clipNorm) ? clipRowSparseToL2(raw, clipNorm) : { tensors: raw, preClipNorm: deltaL2Norm(raw), clipped: false };
  return { delta: out.tensors as MfTowerDelta, preClipNorm: out.preClipNorm, clipped: out.clipped, userEmbedding: user, loss: lastEpochLoss, numExamples, steps };
}
