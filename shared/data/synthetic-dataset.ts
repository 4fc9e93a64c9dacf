/**
 * A deterministic synthetic interaction data set with a learnable signal, used by tests,
 * simulations and the demo so nothing depends on MovieLens (whose licence forbids
 * redistribution).
 *
 * Model: users and items get latent vectors ~ N(0, I_dim); items get a Zipf popularity
 * (weight 1/rank, ranks shuffled so popularity is not tied to ids). A user with vector u
 * picks n distinct items with probability ∝ pop_i · exp(strength · u·v_i / sqrt(dim)),
 * without replacement, via the Gumbel-top-k trick: the n largest of
 * log w_i + Gumbel noise are an exact sample (Plackett–Luce). Cost O(users · items · dim),
 * about a second for 20,000 × 1,000. The picks are then put in an order and stamped
 * with a strictly increasing per-user clock:
 *
 * - 'walk' (default): people move through the catalogue in a direction. Items sit on a
 *   hidden ring (a seeded permutation); a person starts at a random one of their picks
 *   and visits the rest in ring order, so the next item follows from the last one
 *   (the signal a sequence model learns) as well as from taste (what MF learns).
 * - 'shuffled': a uniformly random order; time carries no signal.
 *
 * Either way the held-out (last) item is not biased towards the least-liked pick, and
 * the set of items each person picked is the same for both orders.
 *
 * Each item also gets two genres named after its strongest latent directions
 * (latentGenres): features with signal for the MF feature tower.
 */
import { SeededRandom, deriveSeed } from '../random/seeded-random.ts';
import type { Dataset, Interaction } from './interactions.ts';

export interface SyntheticOptions {
  users: number;
  items: number;
  /** Latent dimension (default 8). */
  dim?: number;
  /** Mean interactions per user (default 30; every user gets at least 5). */
  meanInteractionsPerUser?: number;
  /** Weight of taste against popularity (default 2; 0 = popularity only). */
  strength?: number;
  /** Order of each person's picks in time (default 'walk', see above). */
  order?: 'walk' | 'shuffled';
  seed: number;
}

/** The small default catalogue used by the demo and tests. */
export const DEFAULT_CATALOG = { users: 1000, items: 400, seed: 7 } as const;

const MIN_PER_USER = 5;
const ADJECTIVES = [
  'Silent', 'Midnight', 'Crimson', 'Golden', 'Broken', 'Hidden', 'Electric', 'Frozen', 'Wild', 'Last',
  'Distant', 'Burning', 'Hollow', 'Velvet', 'Iron', 'Secret', 'Lonely', 'Neon', 'Savage', 'Quiet',
];
const NOUNS = [
  'Harbor', 'Circuit', 'River', 'Empire', 'Garden', 'Signal', 'Horizon', 'Mirror', 'Station', 'Kingdom',
  'Orchard', 'Voyage', 'Lantern', 'Frontier', 'Canyon', 'Machine', 'Island', 'Tide', 'Engine', 'Citadel',
];
const SEQUELS = ['', ' II', ' III', ' IV', ' V', ' VI', ' VII', ' VIII', ' IX', ' X'];
/** Genre names of the latent directions: GENRES[2d] for +dimension d, GENRES[2d + 1] for −d. */
const GENRES = [
  'Drama', 'Comedy', 'Thriller', 'Romance', 'Sci-Fi', 'Western', 'Horror', 'Musical',
  'Mystery', 'Fantasy', 'Crime', 'Documentary', 'Animation', 'War', 'Adventure', 'Noir',
];
/** Genres (tags) per synthetic item: its strongest latent directions. */
const GENRES_PER_ITEM = 2;

/**
 * Each item's genres, derived deterministically from its latent vector so features carry
 * taste signal: the GENRES_PER_ITEM dimensions of largest |v_d|, each named by its sign
 * ("genre:Drama" for +d, "genre:Comedy" for −d; "genre:d9+" past the named ones).
 */
export function latentGenres(itemVecs: Float64Array, items: number, dim: number): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < items; i++) {
    const row = itemVecs.subarray(i * dim, i * dim + dim);
    const dims = Array.from({ length: dim }, (_, d) => d).sort((a, b) => Math.abs(row[b]) - Math.abs(row[a]) || a - b);
    out.push(dims.slice(0, Math.min(GENRES_PER_ITEM, dim)).map((d) => {
      const k = 2 * d + (row[d] >= 0 ? 0 : 1);
      return `genre:${k < GENRES.length ? GENRES[k] : `d${d}${row[d] >= 0 ? '+' : '-'}`}`;
    }));
  }
  return out;
}

/** Deterministic, unique titles: "The Silent Harbor", "Midnight Circuit II", ... */
function makeTitles(count: number, rng: SeededRandom): string[] {
  const uses = new Map<string, number>();
  const titles: string[] = [];
  for (let i = 0; i < count; i++) {
    const adj = ADJECTIVES[rng.int(ADJECTIVES.length)];
    const noun = NOUNS[rng.int(NOUNS.length)];
    const pattern = rng.int(3);
    const base = pattern === 0 ? `The ${adj} ${noun}` : pattern === 1 ? `${adj} ${noun}` : `${noun} of the ${adj}`;
    const n = uses.get(base) ?? 0;
    uses.set(base, n + 1);
    titles.push(base + (n < SEQUELS.length ? SEQUELS[n] : ` ${n + 1}`));
  }
  return titles;
}

/** The n-th largest value of `a` (1-based n); reorders `a` (Hoare quickselect). */
function nthLargest(a: Float64Array, n: number): number {
  const target = a.length - n; // index in ascending order
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return a[target];
}

function normals(count: number, rng: SeededRandom): Float64Array {
  const a = new Float64Array(count);
  for (let i = 0; i < count; i++) a[i] = rng.normal();
  return a;
}

export function generateSyntheticDataset(opts: SyntheticOptions): Dataset {
  const { users, items, seed } = opts;
  const dim = opts.dim ?? 8;
  const mean = Math.max(MIN_PER_USER, opts.meanInteractionsPerUser ?? 30);
  const strength = opts.strength ?? 2;
  // Separate streams so, e.g., changing the title words never changes the interactions.
  const rng = new SeededRandom(deriveSeed(seed, 1));
  const walk = (opts.order ?? 'walk') === 'walk';
  const ringPosition = new Int32Array(items);
  new SeededRandom(deriveSeed(seed, 3)).shuffle(Array.from({ length: items }, (_, i) => i)).forEach((item, pos) => (ringPosition[item] = pos));
  const itemVecs = normals(items * dim, rng);
  const userVecs = normals(users * dim, rng);

  // Zipf popularity with exponent 1 over a random permutation of the items.
  const logPop = new Float64Array(items);
  const order = rng.shuffle(Array.from({ length: items }, (_, i) => i));
  for (let r = 0; r < items; r++) logPop[order[r]] = -Math.log(r + 1);

  const scale = strength / Math.sqrt(dim);
  const keys = new Float64Array(items);
  const scratch = new Float64Array(items);
  const interactions: Interaction[] = [];

  for (let u = 0; u < users; u++) {
    // Count: mean-preserving log-normal around the mean (heavier tail than Poisson, as in
    // real data), at least 5 and at most the catalogue size.
    const z = rng.normal();
    const spread = (mean - MIN_PER_USER) * Math.exp(0.5 * z - 0.125);
    const n = Math.min(items, MIN_PER_USER + Math.round(spread));

    const uo = u * dim;
    for (let i = 0; i < items; i++) {
      let dot = 0;
      const io = i * dim;
      for (let d = 0; d < dim; d++) dot += userVecs[uo + d] * itemVecs[io + d];
      let g = rng.next();
      while (g === 0) g = rng.next();
      keys[i] = logPop[i] + scale * dot - Math.log(-Math.log(g)); // + Gumbel(0, 1)
    }
    // Threshold = n-th largest key, by quickselect on a scratch copy (O(items)).
    scratch.set(keys);
    const threshold = nthLargest(scratch, n);
    const picked: number[] = [];
    for (let i = 0; i < items && picked.length < n; i++) if (keys[i] >= threshold) picked.push(i);
    rng.shuffle(picked);
    if (walk) {
      const start = ringPosition[picked[0]];
      const ahead = (i: number) => (ringPosition[i] - start + items) % items;
      picked.sort((a, b) => ahead(a) - ahead(b));
    }

    // Synthetic clock: a per-user start, then strictly increasing gaps of 1 s .. 1 day.
    let t = 1_000_000_000 + rng.int(10_000_000);
    for (const item of picked) {
      t += 1 + rng.int(86_400);
      interactions.push({ user: u, item, rating: 1, timestamp: t });
    }
  }

  return {
    name: `synthetic-${users}x${items}-s${seed}${walk ? '' : '-shuffled'}`,
    numUsers: users,
    numItems: items,
    interactions,
    titles: makeTitles(items, new SeededRandom(deriveSeed(seed, 2))),
    itemFeatures: latentGenres(itemVecs, items, dim),
  };
}
