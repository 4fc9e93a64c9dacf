/**
 * Cold-start items: how well the federated MF model ranks items nobody interacted with
 * during training, with and without the item feature tower
 * (shared/model/item-feature-tower.ts).
 *
 * Protocol (fixed; stated in coordinator/simulation/README.md, "Cold-start items"):
 * - cold items: a seeded `coldFraction` of the items (hash of the item id and the seed),
 *   all of whose interactions are removed from training; they are retired during
 *   training (never sampled as negatives), as items the catalog does not have yet;
 * - federated training on the remaining (warm) interactions with the participant's own
 *   path: trainLocally (TensorFlow.js, wasm) + buildUpdate (Δ, clip) → RoundAggregation
 *   (uniform weights, streaming mean, row normalisation) → server SGD; `clientsPerRound`
 *   people sampled per round (the round engine's sampler and seeds);
 * - then the cold items are "added": their free rows and biases set to zero (what the
 *   coordinator's catalog growth writes), so they are scored by the tower alone;
 * - each person with warm history and cold interactions: user vector folded in on the
 *   warm history (the participant's fold-in, FOLD_IN), then every cold item they
 *   interacted with is ranked (a) among all cold items ("cold candidates") and (b) among
 *   every item not in their warm history ("full catalog"); their other cold items are
 *   left out of the candidates;
 * - HR@10 is the mean over (person, cold item) pairs of P(rank < 10) with ties broken
 *   uniformly at random (in expectation): without the tower every cold item scores the
 *   same, and a tie rule by id would decide the result.
 */
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../../shared/model/recommender-model.ts';
import { RoundAggregation } from '../../shared/aggregate/round-aggregation.ts';
import { createServerOptimizer } from '../../shared/aggregate/server-optimizer.ts';
import type { Dataset } from '../../shared/data/interactions.ts';
import { createEmbeddingModel, type EmbeddingModelConfig } from '../../shared/model/embedding-model.ts';
import { initParams } from '../../shared/model/init-params.ts';
import { itemFeatureTable } from '../../shared/model/item-feature-tower.ts';
import { deriveSeed, hashString } from '../../shared/random/seeded-random.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { foldIn } from '../../shared/train/fold-in.ts';
import { trainLocally } from '../../shared/train/local-training.ts';
import { buildUpdate } from '../../shared/update/build-update.ts';
import { sampleParticipants } from '../rounds/sample-participants.ts';

export interface ColdStartOptions {
  readonly rounds: number;
  readonly clientsPerRound: number;
  readonly dim: number;
  readonly seed: number;
  readonly coldFraction: number;
  readonly buckets: number;
  readonly train?: TrainConfig;
  readonly clipNorm?: number;
  readonly serverLearningRate?: number;
  readonly onRound?: (round: number, seconds: number) => void;
}

export interface ColdStartResult {
  readonly tower: boolean;
  readonly coldItems: number;
  readonly pairs: number;
  /** HR@10 of a cold item among all cold items. */
  readonly hr10Cold: number;
  /** HR@10 of a cold item among every item outside the person's warm history. */
  readonly hr10Full: number;
  readonly trainSeconds: number;
}

/** P(rank < k) of a target with `above` strictly higher and `tied` other candidates at its score, ties random. */
export function expectedHit(above: number, tied: number, k = 10): number {
  if (above >= k) return 0;
  return Math.min(1, (k - above) / (tied + 1));
}

/** The cold items of a run: a seeded fraction by hash of the id. */
export function coldItemsOf(numItems: number, fraction: number, seed: number): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i < numItems; i++) if ((deriveSeed(seed, i, 0xc01d) >>> 0) / 2 ** 32 < fraction) out.add(i);
  return out;
}

export async function runColdStartItems(dataset: Dataset, o: ColdStartOptions, tower: boolean): Promise<ColdStartResult> {
  if (tower && !dataset.itemFeatures) throw new Error(`${dataset.name} has no item features`);
  const numItems = dataset.numItems;
  const cold = coldItemsOf(numItems, o.coldFraction, o.seed);
  const warm: number[][] = Array.from({ length: dataset.numUsers }, () => []);
  const coldOf: number[][] = Array.from({ length: dataset.numUsers }, () => []);
  const byTime = [...dataset.interactions].sort((a, b) => a.timestamp - b.timestamp || a.user - b.user || a.item - b.item);
  for (const x of byTime) (cold.has(x.item) ? coldOf : warm)[x.user].push(x.item);
  const history = warm.map((h) => Int32Array.from(h));
  const base: EmbeddingModelConfig = { numItems, dim: o.dim, ...(tower ? { itemFeatures: itemFeatureTable(dataset.itemFeatures!, o.buckets) } : {}) };
  const model = createEmbeddingModel({ ...base, retiredItems: [...cold] });
  const spec = model.spec;
  let globals = initParams(spec, 'global', o.seed);
  const userSeed = (u: number) => hashString(`cold-${o.seed}-${u}`);
  const users = history.map((_, u) => initParams(spec, 'local', userSeed(u)));
  const eligible = history.map((h, u) => (h.length > 0 ? u : -1)).filter((u) => u >= 0).map(String);
  const train = o.train ?? DEFAULT_TRAIN_CONFIG;
  const clipNorm = o.clipNorm ?? 1;
  const optimizer = createServerOptimizer({ kind: 'sgd', learningRate: o.serverLearningRate ?? 1 });
  const started = performance.now();
  for (let r = 1; r <= o.rounds; r++) {
    const t0 = performance.now();
    const selected = sampleParticipants(eligible, 0, Math.min(eligible.length, o.clientsPerRound), deriveSeed(o.seed, r)).map(Number);
    const agg = new RoundAggregation(spec, { weighting: { kind: 'uniform' }, combine: { kind: 'mean' }, clipNorm, rowNormalize: true }, { maxUpdates: selected.length });
    for (const u of selected) {
      const res = await trainLocally(model, globals, users[u], history[u], train, deriveSeed(o.seed, r, userSeed(u)));
      users[u] = res.locals;
      const update = buildUpdate(spec, res.globals, globals, { round: r, baseVersion: r - 1, numExamples: res.numExamples, clipNorm });
      agg.addDelta(update.delta, res.numExamples, update.preClipNorm);
    }
    globals = optimizer.step(globals, agg.result());
    o.onRound?.(r, (performance.now() - t0) / 1000);
  }
  const trainSeconds = (performance.now() - started) / 1000;

  // The cold items are added to the catalog: free rows and biases zero.
  const added: NamedTensors = { ...globals, itemEmbedding: globals.itemEmbedding.slice(), itemBias: globals.itemBias.slice() };
  for (const i of cold) {
    added.itemEmbedding.fill(0, i * o.dim, (i + 1) * o.dim);
    added.itemBias[i] = 0;
  }
  const scorer = createEmbeddingModel(base);
  const coldList = [...cold];
  let pairs = 0;
  let hitCold = 0;
  let hitFull = 0;
  for (let u = 0; u < dataset.numUsers; u++) {
    if (coldOf[u].length === 0 || history[u].length === 0) continue;
    const fitted = await foldIn(scorer, added, users[u], history[u], deriveSeed(userSeed(u), history[u].length));
    const scores = scorer.scoreAll(added, fitted.locals, history[u]);
    const seen = new Set(history[u]);
    const mine = new Set(coldOf[u]);
    for (const target of mine) {
      const s = scores[target];
      let aboveCold = 0, tiedCold = 0, aboveFull = 0, tiedFull = 0;
      for (const i of coldList) {
        if (i === target || mine.has(i)) continue;
        if (scores[i] > s) aboveCold++;
        else if (scores[i] === s) tiedCold++;
      }
      for (let i = 0; i < numItems; i++) {
        if (i === target || seen.has(i) || mine.has(i)) continue;
        if (scores[i] > s) aboveFull++;
        else if (scores[i] === s) tiedFull++;
      }
      hitCold += expectedHit(aboveCold, tiedCold);
      hitFull += expectedHit(aboveFull, tiedFull);
      pairs++;
    }
  }
  return { tower, coldItems: cold.size, pairs, hr10Cold: hitCold / pairs, hr10Full: hitFull / pairs, trainSeconds };
}
