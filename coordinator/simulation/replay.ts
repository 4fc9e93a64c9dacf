/**
 * `flock simulate --replay`: evaluation over time (issue 10). A data set is played in
 * timestamp order, one day per step (shared/data/daily-timeline.ts); people and items
 * appear when they first occur. Each day is first EVALUATED with every model as it stood
 * at the end of the previous day, then LEARNED (prequential, test-then-train):
 *
 * - federated (online): `roundsPerDay` rounds per day among the people active that day
 *   (those with something new to learn from), each training its whole history so far
 *   with the simulation's client step (shared/train/mf-fused-training.ts, trainMfClients)
 *   → the coordinator's pipeline (RoundAggregation: validate → weight → bound → combine,
 *   the simulation defaults) → server SGD step;
 * - centralized, retrained daily: the same MF model, objective and SGD step as
 *   `flock train --centralized` (mfSgdStep), `centralEpochsPerDay` epochs over all the
 *   data so far at the end of every day, warm-started from the previous day's model;
 * - frozen: the same centralized training, `frozenEpochs` epochs from scratch on the
 *   first half of the timeline (days < ⌊days/2⌋), never updated afterwards;
 * - popularity: items ranked by how many people interacted with them so far;
 * - with `itemFeatures` (the data set's item features through the feature tower,
 *   shared/model/item-feature-tower.ts): "federated-tower" and "centralized-daily-tower",
 *   the same two arms with the tower in the model (shared/train/mf-tower-training.ts),
 *   from the same stream, seeds and batches; the plain arms run alongside unchanged.
 *
 * The growing catalog: items are numbered in order of first appearance, so on day d the
 * models hold (and train, sample negatives from, and rank) exactly the item-table prefix
 * of the items that exist by then. The tables are allocated at the final catalog size up
 * front and used as a growing prefix; day 0's items keep the model's initial rows. An
 * item that first appears on a day d ≥ 1 is ADDED to every MF model at the start of day d
 * (before that day is scored) as the coordinator's catalog growth does: free row zero, and
 * free bias = the mean free bias of the items that existed before (so without the tower a
 * new item scores the average item bias for everybody: no free advantage or handicap;
 * with the tower the same free part plus its features' part).
 *
 * Protocol (prequential next-day HR@10 / NDCG@10): every interaction (u, i) of day d ≥ 1
 * by a person with at least one interaction on an earlier day is a test case. Candidates:
 * i and 100 negatives drawn uniformly without replacement among the items that exist at
 * the end of day d − 1 and that u never interacts with in the whole data set (fewer when
 * fewer exist), seeded from the data set's name, u and i — fixed per data set, never by
 * --seed. Every model scores them from u's history before day d: its user vector is
 * fitted to that history by the participant's fold-in (shared/train/fold-in.ts, starting
 * from the arm's stored vector: the device's for federated, the trained one for the
 * centralized arms), as the browser does before recommending. Ties among candidates are
 * broken uniformly at random, in expectation (expectedHit, cold-start-items.ts): never by
 * id. Items seen for the first time on day d (i not yet in the table when day d is
 * scored) are "cold-start items": scored from their added row (and features) — reported
 * apart; the warm metrics exclude them. "First-day items" are the cold-start cases plus
 * the cases whose item first appeared on day d − 1 (one day of training at most): the
 * item's first day is d or d − 1. People on their first day are not evaluated (no
 * history to score from).
 */
import { DEFAULT_COMBINE, DEFAULT_WEIGHTING } from '../../shared/aggregate/aggregation-settings.ts';
import { RoundAggregation } from '../../shared/aggregate/round-aggregation.ts';
import { createServerOptimizer } from '../../shared/aggregate/server-optimizer.ts';
import { dailyTimeline, type DailyTimeline } from '../../shared/data/daily-timeline.ts';
import type { Dataset } from '../../shared/data/interactions.ts';
import { FlockError } from '../../shared/errors.ts';
import { createEmbeddingModel, type PairBatch } from '../../shared/model/embedding-model.ts';
import { initParams } from '../../shared/model/init-params.ts';
import { addTower, itemFeatureTable, type ItemFeatureTable } from '../../shared/model/item-feature-tower.ts';
import type { RecommenderModel, TrainConfig } from '../../shared/model/recommender-model.ts';
import { deriveSeed, hashString, SeededRandom } from '../../shared/random/seeded-random.ts';
import { foldInMfUser, foldInSeed } from '../../shared/train/fold-in.ts';
import { MfFusedScratch, trainMfClients } from '../../shared/train/mf-fused-training.ts';
import { trainMfTowerLocally } from '../../shared/train/mf-tower-training.ts';
import { MfScratch, mfSgdStep, batchTouchedItems } from '../../shared/train/mf-typed-array-training.ts';
import { expectedHit } from './cold-start-items.ts';
import { fleetClientId } from './federated-rounds.ts';

export const REPLAY_ARMS = ['frozen', 'federated', 'federated-tower', 'centralized-daily', 'centralized-daily-tower', 'popularity'] as const;
export type ReplayArm = (typeof REPLAY_ARMS)[number];
export const REPLAY_NEGATIVES = 100;

export interface ReplayConfig {
  readonly dim: number;
  readonly seed: number;
  readonly roundsPerDay: number;
  readonly localEpochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly negatives: number;
  readonly l2: number;
  readonly clipNorm: number;
  readonly serverLearningRate: number;
  readonly rowNormalize: boolean;
  readonly centralEpochsPerDay: number;
  readonly frozenEpochs: number;
  /**
   * Also run the tower arms on the data set's item features (hashed into `buckets`);
   * `centralized: false` runs only federated-tower. Absent: no tower arms.
   */
  readonly itemFeatures?: { readonly buckets: number; readonly centralized: boolean };
}

/** Sums of one arm's test cases (HR@10 and NDCG@10 summed; divide by n). */
export interface ArmSums {
  n: number;
  hr: number;
  ndcg: number;
  coldN: number;
  coldHr: number;
  coldNdcg: number;
  /** Cases (among the warm ones above) whose item first appeared the day before. */
  youngN: number;
  youngHr: number;
  youngNdcg: number;
}

export interface ReplayDay {
  readonly day: number;
  readonly interactions: number;
  /** Items that exist at the end of the day. */
  readonly items: number;
  /** People seen so far (at the end of the day). */
  readonly people: number;
  /** Per arm; the frozen arm only from the first day after the half. */
  readonly arms: Partial<Record<ReplayArm, ArmSums>>;
}

export interface ReplayResult {
  readonly days: readonly ReplayDay[];
  /** First day of the second half (the frozen model's training data ends before it). */
  readonly half: number;
  readonly numItems: number;
  readonly numUsers: number;
  readonly seconds: { readonly total: number; readonly federated: number; readonly centralized: number; readonly evaluation: number };
  /** L2 norm of each tower arm's feature embedding at the end (0: the tower learned nothing). */
  readonly towerNorm: Partial<Record<ReplayArm, number>>;
}

/** One MF model's tables at the final catalog size (used as a growing prefix). */
interface MfTables {
  readonly items: Float32Array;
  readonly bias: Float32Array;
  readonly users: Float32Array;
  /** The feature tower (tower arms only). */
  readonly tower?: { readonly W: Float32Array; readonly a: Float32Array };
}

const emptySums = (): ArmSums => ({ n: 0, hr: 0, ndcg: 0, coldN: 0, coldHr: 0, coldNdcg: 0, youngN: 0, youngHr: 0, youngNdcg: 0 });

/** E[1/log2(rank + 2) · [rank < k]] with rank uniform over above .. above + tied (random ties). */
export function expectedNdcg(above: number, tied: number, k = 10): number {
  let s = 0;
  for (let r = above; r <= Math.min(above + tied, k - 1); r++) s += 1 / Math.log2(r + 2);
  return s / (tied + 1);
}

/** The item feature table of the data set's items in timeline order. */
function timelineFeatureTable(dataset: Dataset, tl: DailyTimeline, buckets: number): ItemFeatureTable {
  if (!dataset.itemFeatures) throw new FlockError('bad-config', `replay: data set ${dataset.name} has no item features for the feature tower`);
  return itemFeatureTable(Array.from(tl.originalItem, (i) => dataset.itemFeatures![i] ?? []), buckets);
}

/** The items of day d (ids from..to) added to a model: free row zero, free bias the mean of the existing items' free biases. */
export function addNewItems(t: Pick<MfTables, 'items' | 'bias'>, from: number, to: number, dim: number): void {
  let mean = 0;
  for (let i = 0; i < from; i++) mean += t.bias[i];
  mean = from > 0 ? mean / from : 0;
  t.items.fill(0, from * dim, to * dim);
  t.bias.fill(mean, from, to);
}

/** The item vectors and biases an arm scores with: the free tables plus the tower's part. */
function scoringTables(t: MfTables, table: ItemFeatureTable | null, dim: number): { items: Float32Array; bias: Float32Array } {
  if (!t.tower || !table) return t;
  const items = Float32Array.from(t.items);
  const bias = Float32Array.from(t.bias);
  addTower(table, t.tower.W, t.tower.a, dim, items, bias);
  return { items, bias };
}

function checkConfig(c: ReplayConfig): void {
  const ints: (keyof ReplayConfig)[] = ['dim', 'roundsPerDay', 'localEpochs', 'batchSize', 'negatives', 'centralEpochsPerDay', 'frozenEpochs'];
  for (const k of ints) {
    const v = c[k] as number;
    if (!(Number.isInteger(v) && v >= (k === 'roundsPerDay' || k === 'centralEpochsPerDay' ? 0 : 1))) throw new FlockError('bad-config', `replay: ${k} must be a non-negative integer (dim, epochs, batch size, negatives ≥ 1), got ${v}`);
  }
  for (const k of ['learningRate', 'clipNorm', 'serverLearningRate'] as const) if (!(c[k] > 0)) throw new FlockError('bad-config', `replay: ${k} must be positive, got ${c[k]}`);
  const b = c.itemFeatures?.buckets;
  if (b !== undefined && !(Number.isInteger(b) && b >= 1 && b <= 65536)) throw new FlockError('bad-config', `replay: feature buckets must be an integer in [1, 65536], got ${b}`);
}

/** Plays `dataset` day by day and returns every day's prequential sums per arm. */
export function runReplay(dataset: Dataset, cfg: ReplayConfig, log: (line: string) => void = () => {}): ReplayResult {
  checkConfig(cfg);
  const t0 = performance.now();
  const tl: DailyTimeline = dailyTimeline(dataset);
  const { numItems, numUsers } = tl;
  const dim = cfg.dim;
  const numDays = tl.days.length;
  const half = Math.floor(numDays / 2);
  const fullSpec = createEmbeddingModel({ numItems, dim }).spec;
  const init = initParams(fullSpec, 'global', cfg.seed);
  const participantSeed = Uint32Array.from({ length: numUsers }, (_, u) => hashString(fleetClientId(cfg.seed, u)));
  const table = cfg.itemFeatures ? timelineFeatureTable(dataset, tl, cfg.itemFeatures.buckets) : null;
  const freshTables = (withTower = false): MfTables => {
    const users = new Float32Array(numUsers * dim);
    for (let u = 0; u < numUsers; u++) users.set(initParams(fullSpec, 'local', participantSeed[u]).userEmbedding, u * dim);
    // The tower's tables start at zero (embeddingModelSpec's init).
    const tower = withTower && table ? { W: new Float32Array(table.buckets * dim), a: new Float32Array(table.buckets) } : undefined;
    return { items: Float32Array.from(init.itemEmbedding), bias: Float32Array.from(init.itemBias), users, tower };
  };
  const fed = freshTables();
  const central = freshTables();
  const fedTower = table ? freshTables(true) : null;
  const centralTower = table && cfg.itemFeatures!.centralized ? freshTables(true) : null;
  let frozen: MfTables | null = null;
  const histories: number[][] = Array.from({ length: numUsers }, () => []);
  const everInteracted: Set<number>[] = Array.from({ length: numUsers }, () => new Set());
  for (const d of tl.days) for (let k = 0; k < d.users.length; k++) everInteracted[d.users[k]].add(d.items[k]);
  const popularity = new Float64Array(numItems);
  const dataSeed = hashString(`replay:${dataset.name}`);
  const train: TrainConfig = { localEpochs: cfg.localEpochs, batchSize: cfg.batchSize, learningRate: cfg.learningRate, negatives: cfg.negatives, l2: cfg.l2 };
  const centralTrain: TrainConfig = { ...train, localEpochs: 1 };
  const server = createServerOptimizer({ kind: 'sgd', learningRate: cfg.serverLearningRate });
  const settings = { weighting: DEFAULT_WEIGHTING, combine: DEFAULT_COMBINE, clipNorm: cfg.clipNorm, rowNormalize: cfg.rowNormalize };
  const fusedScratch = new MfFusedScratch();
  const sgdScratch = new MfScratch();
  sgdScratch.ensure(dim, cfg.batchSize * (1 + cfg.negatives), numItems, numItems);
  const models = new Map<number, RecommenderModel<PairBatch>>();
  const modelFor = (k: number) => {
    let m = models.get(k);
    if (!m) models.set(k, (m = createEmbeddingModel({ numItems: k, dim }) as RecommenderModel<PairBatch>));
    return m;
  };
  let secFed = 0;
  let secCentral = 0;
  let secEval = 0;
  const people = new Set<number>();
  const out: ReplayDay[] = [];

  for (let d = 0; d < numDays; d++) {
    const day = tl.days[d];
    const arms: Partial<Record<ReplayArm, ArmSums>> = {};
    // 0. The day's new items join every MF model's catalog.
    if (d >= 1) for (const t of [fed, central, fedTower, centralTower, frozen]) if (t) addNewItems(t, tl.itemsBy[d - 1], tl.itemsBy[d], dim);
    // 1. Evaluate day d with the models of the end of day d − 1.
    const te = performance.now();
    if (d >= 1 && day.users.length > 0) {
      const K = tl.itemsBy[d - 1];
      const evalArms: [ReplayArm, MfTables | null][] = [['federated', fed], ['centralized-daily', central], ['popularity', null]];
      if (fedTower) evalArms.splice(1, 0, ['federated-tower', fedTower]);
      if (centralTower) evalArms.splice(evalArms.length - 1, 0, ['centralized-daily-tower', centralTower]);
      if (frozen) evalArms.unshift(['frozen', frozen]);
      const scoring = new Map(evalArms.map(([arm, t]) => [arm, t && scoringTables(t, table, dim)]));
      for (const [arm] of evalArms) arms[arm] = emptySums();
      const byUser = new Map<number, number[]>();
      for (let k = 0; k < day.users.length; k++) {
        const u = day.users[k];
        if (histories[u].length === 0) continue;
        let l = byUser.get(u);
        if (!l) byUser.set(u, (l = []));
        l.push(day.items[k]);
      }
      const model = modelFor(K);
      for (const [u, todays] of byUser) {
        const history = Int32Array.from(histories[u]);
        const cases = todays.map((i) => ({ target: i, negatives: drawNegatives(K, everInteracted[u], REPLAY_NEGATIVES, deriveSeed(dataSeed, u, i)) }));
        for (const [arm, t] of evalArms) {
          const sums = arms[arm]!;
          let score: (i: number) => number;
          if (t === null) score = (i) => (i < K ? popularity[i] : 0);
          else {
            const start = t.users.subarray(u * dim, u * dim + dim);
            const v = scoring.get(arm)!;
            const user = foldInMfUser(model, dim, { itemEmbedding: v.items, itemBias: v.bias }, start, history, foldInSeed(participantSeed[u], history.length));
            score = (i) => {
              let s = v.bias[i];
              for (let x = 0; x < dim; x++) s += v.items[i * dim + x] * user[x];
              return s;
            };
          }
          for (const c of cases) {
            const target = score(c.target);
            let above = 0;
            let tied = 0;
            for (const j of c.negatives) {
              const s = score(j);
              if (s > target) above++;
              else if (s === target) tied++;
            }
            const hr = expectedHit(above, tied);
            const ndcg = expectedNdcg(above, tied);
            if (c.target < K) {
              sums.n++;
              sums.hr += hr;
              sums.ndcg += ndcg;
              if (tl.firstDayOfItem[c.target] === d - 1) {
                sums.youngN++;
                sums.youngHr += hr;
                sums.youngNdcg += ndcg;
              }
            } else {
              sums.coldN++;
              sums.coldHr += hr;
              sums.coldNdcg += ndcg;
            }
          }
        }
      }
    }
    secEval += (performance.now() - te) / 1000;

    // 2. Learn day d.
    const active = new Set<number>();
    for (let k = 0; k < day.users.length; k++) {
      const u = day.users[k];
      histories[u].push(day.items[k]);
      active.add(u);
      people.add(u);
    }
    const K = tl.itemsBy[d];
    const counted = new Set<number>();
    for (let k = 0; k < day.users.length; k++) {
      const key = day.users[k] * numItems + day.items[k];
      if (!counted.has(key)) {
        counted.add(key);
        popularity[day.items[k]]++;
      }
    }
    if (active.size > 0 && K > 0) {
      const tf = performance.now();
      const cohort = [...active].sort((a, b) => a - b);
      federatedDay(fed, histories, cohort, K, d, cfg, train, participantSeed, settings, server, fusedScratch);
      if (fedTower) federatedTowerDay(fedTower, table!, histories, cohort, K, d, cfg, train, participantSeed, settings, server, sgdScratch);
      secFed += (performance.now() - tf) / 1000;
      const tc = performance.now();
      for (let e = 0; e < cfg.centralEpochsPerDay; e++) {
        centralizedEpoch(central, histories, K, dim, centralTrain, deriveSeed(cfg.seed, d, e, 0xce), modelFor(K), sgdScratch);
        if (centralTower) centralizedTowerEpoch(centralTower, table!, histories, K, dim, centralTrain, deriveSeed(cfg.seed, d, e, 0xce), modelFor(K), sgdScratch);
      }
      secCentral += (performance.now() - tc) / 1000;
    }
    if (d === half - 1) {
      const tc = performance.now();
      frozen = freshTables();
      for (let e = 0; e < cfg.frozenEpochs; e++) centralizedEpoch(frozen, histories, K, dim, centralTrain, deriveSeed(cfg.seed, e, 0xf2), modelFor(K), sgdScratch);
      secCentral += (performance.now() - tc) / 1000;
      log(`day ${d}: frozen model trained on days 0..${d} (${K} items, ${people.size} people, ${cfg.frozenEpochs} epochs)`);
    }
    out.push({ day: d, interactions: day.users.length, items: K, people: people.size, arms });
    if ((d + 1) % 20 === 0 || d === numDays - 1) log(`day ${d + 1}/${numDays}: ${K} items, ${people.size} people, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const towerNorm: Partial<Record<ReplayArm, number>> = {};
  for (const [arm, t] of [['federated-tower', fedTower], ['centralized-daily-tower', centralTower]] as const) if (t) towerNorm[arm] = Math.hypot(...t.tower!.W);
  return { days: out, half, numItems, numUsers, towerNorm, seconds: { total: (performance.now() - t0) / 1000, federated: secFed, centralized: secCentral, evaluation: secEval } };
}

/** `count` distinct items of [0, K) outside `exclude`, uniformly (all of them when fewer exist). */
export function drawNegatives(K: number, exclude: ReadonlySet<number>, count: number, seed: number): Int32Array {
  const pool: number[] = [];
  for (let i = 0; i < K; i++) if (!exclude.has(i)) pool.push(i);
  const rng = new SeededRandom(seed);
  const take = Math.min(count, pool.length);
  for (let k = 0; k < take; k++) {
    const j = k + rng.int(pool.length - k);
    const t = pool[k];
    pool[k] = pool[j];
    pool[j] = t;
  }
  return Int32Array.from(pool.slice(0, take));
}

/** One day's federated rounds among the active people, over the first K items. */
function federatedDay(
  t: MfTables,
  histories: readonly number[][],
  cohort: readonly number[],
  K: number,
  day: number,
  cfg: ReplayConfig,
  train: TrainConfig,
  participantSeed: Uint32Array,
  settings: ConstructorParameters<typeof RoundAggregation>[1],
  server: ReturnType<typeof createServerOptimizer>,
  scratch: MfFusedScratch,
): void {
  const dim = cfg.dim;
  const numUsers = histories.length;
  const historyOffsets = new Int32Array(numUsers + 1);
  for (let u = 0; u < numUsers; u++) historyOffsets[u + 1] = historyOffsets[u] + histories[u].length;
  const historyItems = new Int32Array(historyOffsets[numUsers]);
  for (let u = 0; u < numUsers; u++) historyItems.set(histories[u], historyOffsets[u]);
  const spec = createEmbeddingModel({ numItems: K, dim }).spec;
  for (let r = 0; r < cfg.roundsPerDay; r++) {
    const globals = { itemEmbedding: t.items.subarray(0, K * dim), itemBias: t.bias.subarray(0, K) };
    const tables = { numItems: K, dim, itemEmbedding: globals.itemEmbedding, itemBias: globals.itemBias, users: t.users, historyOffsets, historyItems };
    const seeds = Uint32Array.from(cohort, (u) => deriveSeed(cfg.seed, day, r, participantSeed[u]));
    const res = trainMfClients(tables, Int32Array.from(cohort), seeds, { train, clipNorm: cfg.clipNorm, computeLoss: false }, scratch);
    const agg = new RoundAggregation(spec, settings, { maxUpdates: cohort.length });
    for (let c = 0; c < cohort.length; c++) {
      const a = res.rowOffsets[c];
      const b = res.rowOffsets[c + 1];
      const rows = res.rows.subarray(a, b);
      agg.addDelta({ itemEmbedding: { rows, data: res.itemEmbedding.subarray(a * dim, b * dim) }, itemBias: { rows, data: res.itemBias.subarray(a, b) } }, res.numExamples[c], res.preClipNorm[c]);
    }
    const next = server.step(globals, agg.result());
    t.items.set(next.itemEmbedding, 0);
    t.bias.set(next.itemBias, 0);
  }
}

/** The tower model's spec over the first K items (the tower's tables are dense, whatever K). */
function towerSpec(table: ItemFeatureTable, K: number, dim: number) {
  return createEmbeddingModel({ numItems: K, dim, itemFeatures: { buckets: table.buckets, offsets: table.offsets.slice(0, K + 1), ids: table.ids.slice(0, table.offsets[K]) } }).spec;
}

/** federatedDay for the tower model: the same cohort, seeds and pipeline, each client on trainMfTowerLocally. */
function federatedTowerDay(
  t: MfTables,
  table: ItemFeatureTable,
  histories: readonly number[][],
  cohort: readonly number[],
  K: number,
  day: number,
  cfg: ReplayConfig,
  train: TrainConfig,
  participantSeed: Uint32Array,
  settings: ConstructorParameters<typeof RoundAggregation>[1],
  server: ReturnType<typeof createServerOptimizer>,
  scratch: MfScratch,
): void {
  const dim = cfg.dim;
  const spec = towerSpec(table, K, dim);
  // trainMfTowerLocally reads only makeBatches and numItems from the model (the features come from `table`).
  const model = createEmbeddingModel({ numItems: K, dim }) as RecommenderModel<PairBatch>;
  const hist = cohort.map((u) => Int32Array.from(histories[u]));
  for (let r = 0; r < cfg.roundsPerDay; r++) {
    const globals = { itemEmbedding: t.items.subarray(0, K * dim), itemBias: t.bias.subarray(0, K), featureEmbedding: t.tower!.W, featureBias: t.tower!.a };
    const agg = new RoundAggregation(spec, settings, { maxUpdates: cohort.length });
    cohort.forEach((u, c) => {
      const user = t.users.subarray(u * dim, u * dim + dim);
      const res = trainMfTowerLocally(model, dim, table, globals, user, hist[c], train, deriveSeed(cfg.seed, day, r, participantSeed[u]), cfg.clipNorm, scratch);
      user.set(res.userEmbedding);
      agg.addDelta(res.delta, res.numExamples, res.preClipNorm);
    });
    const next = server.step(globals, agg.result());
    t.items.set(next.itemEmbedding, 0);
    t.bias.set(next.itemBias, 0);
    t.tower!.W.set(next.featureEmbedding);
    t.tower!.a.set(next.featureBias);
  }
}

/**
 * centralizedEpoch for the tower model: person by person in the same order, the same
 * batches (SeededRandom(deriveSeed(seed, u)), one epoch), sequential SGD on the shared
 * tables — each person's steps run on trainMfTowerLocally's copy, written back at once.
 */
function centralizedTowerEpoch(t: MfTables, table: ItemFeatureTable, histories: readonly number[][], K: number, dim: number, train: TrainConfig, seed: number, model: RecommenderModel<PairBatch>, scratch: MfScratch): void {
  const order = new SeededRandom(seed).shuffle([...histories.keys()].filter((u) => histories[u].length > 0));
  const globals = { itemEmbedding: t.items.subarray(0, K * dim), itemBias: t.bias.subarray(0, K), featureEmbedding: t.tower!.W, featureBias: t.tower!.a };
  for (const u of order) {
    const user = t.users.subarray(u * dim, u * dim + dim);
    const res = trainMfTowerLocally(model, dim, table, globals, user, Int32Array.from(histories[u]), train, deriveSeed(seed, u), Infinity, scratch);
    user.set(res.userEmbedding);
    for (const [name, target, width] of [['itemEmbedding', t.items, dim], ['itemBias', t.bias, 1], ['featureEmbedding', t.tower!.W, dim], ['featureBias', t.tower!.a, 1]] as const) {
      const { rows, data } = res.delta[name];
      for (let s = 0; s < rows.length; s++) for (let x = 0; x < width; x++) target[rows[s] * width + x] += data[s * width + x];
    }
  }
}

/** One centralized SGD epoch over everyone's history so far (flock train --centralized's step), over the first K items. */
function centralizedEpoch(t: MfTables, histories: readonly number[][], K: number, dim: number, train: TrainConfig, seed: number, model: RecommenderModel<PairBatch>, scratch: MfScratch): void {
  const order = new SeededRandom(seed).shuffle([...histories.keys()].filter((u) => histories[u].length > 0));
  const mark = new Uint8Array(K);
  for (const u of order) {
    const rng = new SeededRandom(deriveSeed(seed, u));
    const user = t.users.subarray(u * dim, u * dim + dim);
    for (const b of model.makeBatches(Int32Array.from(histories[u]), train, K, rng)) {
      const touched = batchTouchedItems(b.positives, b.negatives, mark);
      mfSgdStep(t.items, t.bias, user, dim, b.positives, b.negatives, train, scratch, touched);
    }
  }
}

/** Pooled HR@10 / NDCG@10 of an arm over days [from, to), and the cold-start items' HR@10. */
export function pooled(
  days: readonly ReplayDay[],
  arm: ReplayArm,
  from = 0,
  to = days.length,
): ArmSums & { hr10: number; ndcg10: number; coldHr10: number; coldNdcg10: number; firstDayN: number; firstDayHr10: number; firstDayNdcg10: number; allN: number; allHr10: number; allNdcg10: number } {
  const s = emptySums();
  for (const d of days.slice(from, to)) {
    const a = d.arms[arm];
    if (!a) continue;
    s.n += a.n;
    s.hr += a.hr;
    s.ndcg += a.ndcg;
    s.coldN += a.coldN;
    s.coldHr += a.coldHr;
    s.coldNdcg += a.coldNdcg;
    s.youngN += a.youngN;
    s.youngHr += a.youngHr;
    s.youngNdcg += a.youngNdcg;
  }
  const firstDayN = s.coldN + s.youngN;
  const allN = s.n + s.coldN;
  return {
    ...s,
    hr10: s.hr / s.n,
    ndcg10: s.ndcg / s.n,
    coldHr10: s.coldHr / s.coldN,
    coldNdcg10: s.coldNdcg / s.coldN,
    firstDayN,
    firstDayHr10: (s.coldHr + s.youngHr) / firstDayN,
    firstDayNdcg10: (s.coldNdcg + s.youngNdcg) / firstDayN,
    allN,
    allHr10: (s.hr + s.coldHr) / allN,
    allNdcg10: (s.ndcg + s.coldNdcg) / allN,
  };
}
