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
 * - popularity: items ranked by how many people interacted with them so far.
 *
 * The growing catalog: items are numbered in order of first appearance, so on day d the
 * models hold (and train, sample negatives from, and rank) exactly the item-table prefix
 * of the items that exist by then; a new item's row starts at its initial value when it
 * first appears. (The tables are allocated at the final catalog size up front and used
 * as a growing prefix.)
 *
 * Protocol (prequential next-day HR@10 / NDCG@10): every interaction (u, i) of day d ≥ 1
 * by a person with at least one interaction on an earlier day is a test case. Candidates:
 * i and 100 negatives drawn uniformly without replacement among the items that exist at
 * the end of day d − 1 and that u never interacts with in the whole data set (fewer when
 * fewer exist), seeded from the data set's name, u and i — fixed per data set, never by
 * --seed. Every model scores them from u's history before day d: its user vector is
 * fitted to that history by the participant's fold-in (shared/train/fold-in.ts, starting
 * from the arm's stored vector: the device's for federated, the trained one for the
 * centralized arms), as the browser does before recommending. Pessimistic ties (a
 * negative scoring equal to i counts against it). Items seen for the first time on day
 * d (i not yet in the table) are "cold-start items": scored the same way with their
 * initial row — reported apart; the warm metrics exclude them. People on their first
 * day are not evaluated (no history to score from).
 */
import { DEFAULT_COMBINE, DEFAULT_WEIGHTING } from '../../shared/aggregate/aggregation-settings.ts';
import { RoundAggregation } from '../../shared/aggregate/round-aggregation.ts';
import { createServerOptimizer } from '../../shared/aggregate/server-optimizer.ts';
import { dailyTimeline, type DailyTimeline } from '../../shared/data/daily-timeline.ts';
import type { Dataset } from '../../shared/data/interactions.ts';
import { FlockError } from '../../shared/errors.ts';
import { createEmbeddingModel, type PairBatch } from '../../shared/model/embedding-model.ts';
import { initParams } from '../../shared/model/init-params.ts';
import type { RecommenderModel, TrainConfig } from '../../shared/model/recommender-model.ts';
import { deriveSeed, hashString, SeededRandom } from '../../shared/random/seeded-random.ts';
import { foldInMfUser, foldInSeed } from '../../shared/train/fold-in.ts';
import { MfFusedScratch, trainMfClients } from '../../shared/train/mf-fused-training.ts';
import { MfScratch, mfSgdStep } from '../../shared/train/mf-typed-array-training.ts';
import { fleetClientId } from './federated-rounds.ts';

export const REPLAY_ARMS = ['frozen', 'federated', 'centralized-daily', 'popularity'] as const;
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
}

/** Sums of one arm's test cases (HR@10 and NDCG@10 summed; divide by n). */
export interface ArmSums {
  n: number;
  hr: number;
  ndcg: number;
  coldN: number;
  coldHr: number;
  coldNdcg: number;
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
}

/** One MF model's tables at the final catalog size (used as a growing prefix). */
interface MfTables {
  readonly items: Float32Array;
  readonly bias: Float32Array;
  readonly users: Float32Array;
}

const emptySums = (): ArmSums => ({ n: 0, hr: 0, ndcg: 0, coldN: 0, coldHr: 0, coldNdcg: 0 });

function checkConfig(c: ReplayConfig): void {
  const ints: (keyof ReplayConfig)[] = ['dim', 'roundsPerDay', 'localEpochs', 'batchSize', 'negatives', 'centralEpochsPerDay', 'frozenEpochs'];
  for (const k of ints) {
    const v = c[k] as number;
    if (!(Number.isInteger(v) && v >= (k === 'roundsPerDay' || k === 'centralEpochsPerDay' ? 0 : 1))) throw new FlockError('bad-config', `replay: ${k} must be a non-negative integer (dim, epochs, batch size, negatives ≥ 1), got ${v}`);
  }
  for (const k of ['learningRate', 'clipNorm', 'serverLearningRate'] as const) if (!(c[k] > 0)) throw new FlockError('bad-config', `replay: ${k} must be positive, got ${c[k]}`);
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
  const freshTables = (): MfTables => {
    const users = new Float32Array(numUsers * dim);
    for (let u = 0; u < numUsers; u++) users.set(initParams(fullSpec, 'local', participantSeed[u]).userEmbedding, u * dim);
    return { items: Float32Array.from(init.itemEmbedding), bias: Float32Array.from(init.itemBias), users };
  };
  const fed = freshTables();
  const central = freshTables();
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
    // 1. Evaluate day d with the models of the end of day d − 1.
    const te = performance.now();
    if (d >= 1 && day.users.length > 0) {
      const K = tl.itemsBy[d - 1];
      const evalArms: [ReplayArm, MfTables | null][] = [['federated', fed], ['centralized-daily', central], ['popularity', null]];
      if (frozen) evalArms.unshift(['frozen', frozen]);
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
            const user = foldInMfUser(model, dim, { itemEmbedding: t.items, itemBias: t.bias }, start, history, foldInSeed(participantSeed[u], history.length));
            score = (i) => {
              let s = t.bias[i];
              for (let x = 0; x < dim; x++) s += t.items[i * dim + x] * user[x];
              return s;
            };
          }
          for (const c of cases) {
            const target = score(c.target);
            let rank = 0;
            for (const j of c.negatives) if (score(j) >= target) rank++;
            const hr = rank < 10 ? 1 : 0;
            const ndcg = rank < 10 ? 1 / Math.log2(rank + 2) : 0;
            if (c.target < K) {
              sums.n++;
              sums.hr += hr;
              sums.ndcg += ndcg;
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
      federatedDay(fed, histories, [...active].sort((a, b) => a - b), K, d, cfg, train, participantSeed, settings, server, fusedScratch);
      secFed += (performance.now() - tf) / 1000;
      const tc = performance.now();
      for (let e = 0; e < cfg.centralEpochsPerDay; e++) centralizedEpoch(central, histories, K, dim, centralTrain, deriveSeed(cfg.seed, d, e, 0xce), modelFor(K), sgdScratch);
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
  return { days: out, half, numItems, numUsers, seconds: { total: (performance.now() - t0) / 1000, federated: secFed, centralized: secCentral, evaluation: secEval } };
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

/** One centralized SGD epoch over everyone's history so far (flock train --centralized's step), over the first K items. */
function centralizedEpoch(t: MfTables, histories: readonly number[][], K: number, dim: number, train: TrainConfig, seed: number, model: RecommenderModel<PairBatch>, scratch: MfScratch): void {
  const order = new SeededRandom(seed).shuffle([...histories.keys()].filter((u) => histories[u].length > 0));
  const mark = new Uint8Array(K);
  for (const u of order) {
    const rng = new SeededRandom(deriveSeed(seed, u));
    const user = t.users.subarray(u * dim, u * dim + dim);
    for (const b of model.makeBatches(Int32Array.from(histories[u]), train, K, rng)) {
      const touched: number[] = [];
      for (const src of [b.positives, b.negatives]) {
        for (let j = 0; j < src.length; j++) {
          if (mark[src[j]] === 0) {
            mark[src[j]] = 1;
            touched.push(src[j]);
          }
        }
      }
      for (const i of touched) mark[i] = 0;
      mfSgdStep(t.items, t.bias, user, dim, b.positives, b.negatives, train, scratch, touched);
    }
  }
}

/** Pooled HR@10 / NDCG@10 of an arm over days [from, to), and the cold-start items' HR@10. */
export function pooled(days: readonly ReplayDay[], arm: ReplayArm, from = 0, to = days.length): ArmSums & { hr10: number; ndcg10: number; coldHr10: number; coldNdcg10: number } {
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
  }
  return { ...s, hr10: s.hr / s.n, ndcg10: s.ndcg / s.n, coldHr10: s.coldHr / s.coldN, coldNdcg10: s.coldNdcg / s.coldN };
}
