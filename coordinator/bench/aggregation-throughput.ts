/**
 * The coordinator's aggregation throughput, side by side with a plain JS axpy over the
 * same number of bytes (issue 12: "Coordinator aggregation ≥ 60 % of the axpy's GB/s,
 * dense and row-sparse").
 *
 * What is timed is the real coordinator path from the encoded bytes, as the round engine
 * runs it per update: decodeUpdate (shared/update/tensor-codec.ts) → RoundAggregation.add
 * (validate → weight → bound → combine). The update is an ML-100K-sized MF update
 * (itemEmbedding 1682×32 + itemBias 1682), sent
 *   - dense: every float on the wire (222 KB), every value non-zero;
 *   - row-sparse: only the rows a typical client touched (TOUCHED_ROWS of them, ≈ 14 KB).
 * The combine stage is 'mean' with row normalisation (the streaming fold, O(model));
 * the default rule (centered clipping, which stores each update) is reported too: per
 * update (decode → validate → store), and as the whole rule, with its end-of-round
 * result() (L = 3 iterations of a distance and a pull over every stored update) counted
 * in, once per chunk of updates.
 *
 * The axpy is y[i] += a·x[i] with x float32 over bytes/4 elements (the update's
 * encoded size) and y float64 (what the streaming mean accumulates into). GB/s counts
 * the encoded update's bytes (for the axpy, x's bytes) per second. Each repeat times
 * both, alternating, and the table shows medians over repeats.
 *
 * Runnable alone (`npm run bench:aggregation`) or imported (bench-sim prints it):
 * measureAggregationThroughput() → { rows, lines }.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { RoundAggregation } from '../../shared/aggregate/round-aggregation.ts';
import type { AggregationSettings, CombineRule } from '../../shared/aggregate/aggregation-settings.ts';
import { embeddingModelSpec } from '../../shared/model/embedding-model.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import { decodeUpdate, encodeUpdate, type WireTensor } from '../../shared/update/tensor-codec.ts';

/** ML-100K's item count and Flock's default embedding dimension. */
export const ML100K_ITEMS = 1682;
export const MF_DIM = 32;
/** Rows a typical ML-100K client touches in one round (positives and sampled negatives): ≈ 14 KB row-sparse. */
export const TOUCHED_ROWS = 105;

export interface AggregationThroughputRow {
  /** 'dense' or 'row-sparse' (the encoding on the wire). */
  readonly encoding: 'dense' | 'row-sparse';
  /** How decodeUpdate hands the tensors over: 'views' into the received bytes, or 'copies'. */
  readonly decode: 'views' | 'copies';
  /** The combine rule folded into, e.g. 'mean (row-normalised)'. */
  readonly combine: string;
  /** Encoded update size in bytes. */
  readonly bytes: number;
  /** Median microseconds per update through decode → validate → fold. */
  readonly usPerUpdate: number;
  /** Median GB/s of the coordinator path (encoded bytes per second). */
  readonly coordinatorGBps: number;
  /** Median GB/s of the plain axpy over the same bytes, timed interleaved with the coordinator. */
  readonly axpyGBps: number;
  /** Coordinator GB/s ÷ axpy GB/s: the median of the per-repeat ratios (target ≥ 0.6, issue 12). */
  readonly ratio: number;
}

export interface AggregationThroughput {
  readonly rows: readonly AggregationThroughputRow[];
  /** A printable table (header first). */
  readonly lines: readonly string[];
}

export interface AggregationThroughputOptions {
  /** Timed repeats; the table shows medians (default 15). */
  readonly repeats?: number;
  /** Updates folded per timed repeat (default: enough for ≈ 20 MB per repeat). */
  readonly updatesPerRepeat?: number;
  /** Also measure the default combine rule (centered clipping, stores updates) and decoding into copies. Default true. */
  readonly includeDefaultRule?: boolean;
}

function mfSpec(): ModelSpec {
  return embeddingModelSpec({ numItems: ML100K_ITEMS, dim: MF_DIM });
}

/** A deterministic pseudo-random float in (−1, 1) (xorshift), so runs are comparable. */
function filler(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s / 0x100000000) * 2 - 1 || 0.5;
  };
}

/** The encoded update of the benchmark: norm 0.5 (under the clip bound 1, so the bound stage does not rescale). */
export function benchmarkUpdate(encoding: 'dense' | 'row-sparse'): Uint8Array {
  const rnd = filler(encoding === 'dense' ? 12345 : 67890);
  const numItems = ML100K_ITEMS;
  let tensors: WireTensor[];
  if (encoding === 'dense') {
    const emb = new Float32Array(numItems * MF_DIM).map(() => rnd());
    const bias = new Float32Array(numItems).map(() => rnd());
    tensors = [
      { name: 'itemEmbedding', shape: [numItems, MF_DIM], data: emb },
      { name: 'itemBias', shape: [numItems], data: bias },
    ];
  } else {
    const rows = new Set<number>();
    while (rows.size < TOUCHED_ROWS) rows.add(Math.floor(((rnd() + 1) / 2) * numItems) % numItems);
    const sorted = Uint32Array.from([...rows].sort((a, b) => a - b));
    tensors = [
      { name: 'itemEmbedding', shape: [numItems, MF_DIM], rows: sorted, data: new Float32Array(sorted.length * MF_DIM).map(() => rnd()) },
      { name: 'itemBias', shape: [numItems], rows: sorted, data: new Float32Array(sorted.length).map(() => rnd()) },
    ];
  }
  let sum = 0;
  for (const t of tensors) for (const v of t.data) sum += v * v;
  const scale = 0.5 / Math.sqrt(sum);
  for (const t of tensors) for (let i = 0; i < t.data.length; i++) t.data[i] *= scale;
  return encodeUpdate({ round: 1, baseVersion: 0, numExamples: 40, preClipNorm: 0.5, tensors });
}

function settingsFor(combine: CombineRule): AggregationSettings {
  return { weighting: { kind: 'uniform' }, combine, clipNorm: 1, rowNormalize: true };
}

/** Seconds to push `count` copies of `bytes` through decode → RoundAggregation.add (and, `withResult`, the round's result()). */
function timeCoordinator(spec: ModelSpec, settings: AggregationSettings, bytes: Uint8Array, count: number, views: boolean, withResult = false): number {
  const agg = new RoundAggregation(spec, settings, { maxUpdates: count });
  const t0 = performance.now();
  for (let k = 0; k < count; k++) agg.add(decodeUpdate(bytes, { views }));
  if (withResult) agg.result();
  const t1 = performance.now();
  if (agg.count !== count) throw new Error(`benchmark: ${agg.count} of ${count} updates accepted`);
  return (t1 - t0) / 1000;
}

/** The plain axpy y += a·x, x float32, y float64. */
export function axpy(y: Float64Array, a: number, x: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] += a * x[i];
}

function timeAxpy(x: Float32Array, y: Float64Array, count: number): number {
  const t0 = performance.now();
  for (let k = 0; k < count; k++) axpy(y, 1, x);
  const t1 = performance.now();
  return (t1 - t0) / 1000;
}

function median(a: number[]): number {
  const s = [...a].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Measures the table (see the file comment). Each repeat interleaves CHUNKS chunks of
 * the coordinator path and of the axpy, so both see the same machine load; the ratio is
 * the median over repeats of axpy time / coordinator time for the same bytes. ≈ 2–5 s.
 */
export function measureAggregationThroughput(opts: AggregationThroughputOptions = {}): AggregationThroughput {
  const repeats = opts.repeats ?? 15;
  const CHUNKS = 8;
  const spec = mfSpec();
  type Case = { encoding: 'dense' | 'row-sparse'; decode: 'views' | 'copies'; combine: CombineRule; label: string; withResult?: boolean };
  const cases: Case[] = [];
  for (const encoding of ['dense', 'row-sparse'] as const) cases.push({ encoding, decode: 'views', combine: { kind: 'mean' }, label: 'mean (row-normalised)' });
  if (opts.includeDefaultRule ?? true) {
    for (const encoding of ['dense', 'row-sparse'] as const) cases.push({ encoding, decode: 'copies', combine: { kind: 'mean' }, label: 'mean (row-normalised)' });
    for (const encoding of ['dense', 'row-sparse'] as const) cases.push({ encoding, decode: 'views', combine: { kind: 'centered-clipping' }, label: 'centered-clipping (default rule; stores)' });
    for (const encoding of ['dense', 'row-sparse'] as const) {
      cases.push({ encoding, decode: 'views', combine: { kind: 'centered-clipping' }, label: 'centered-clipping, whole rule (+ result(), L = 3)', withResult: true });
    }
  }
  // Warm every case up first (JIT tiers, caches): otherwise the first case measured pays
  // for compiling the shared kernels and looks slower than it is.
  for (let round = 0; round < 2; round++) {
    for (const c of cases) {
      const bytes = benchmarkUpdate(c.encoding);
      const x = new Float32Array(bytes.length >> 2);
      const n = Math.max(20, Math.min(400, Math.round(4e6 / bytes.length)));
      timeCoordinator(spec, settingsFor(c.combine), bytes, n, c.decode === 'views', c.withResult);
      timeAxpy(x, new Float64Array(x.length), n);
    }
  }
  const rows: AggregationThroughputRow[] = [];
  for (const c of cases) {
    const bytes = benchmarkUpdate(c.encoding);
    const settings = settingsFor(c.combine);
    const views = c.decode === 'views';
    const perRepeat = opts.updatesPerRepeat ?? Math.max(CHUNKS, Math.min(c.combine.kind === 'mean' ? 4000 : 800, Math.round(20e6 / bytes.length)));
    const chunk = Math.max(1, Math.round(perRepeat / CHUNKS));
    const x = new Float32Array(bytes.length >> 2).map((_, i) => (i % 7) * 0.01);
    const y = new Float64Array(x.length);
    // Warm up both (JIT, caches).
    timeCoordinator(spec, settings, bytes, Math.min(chunk * 2, 100), views, c.withResult);
    timeAxpy(x, y, chunk);
    const coord: number[] = [];
    const ax: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < repeats; r++) {
      let tc = 0;
      let ta = 0;
      for (let k = 0; k < CHUNKS; k++) {
        tc += timeCoordinator(spec, settings, bytes, chunk, views, c.withResult);
        ta += timeAxpy(x, y, chunk);
      }
      const moved = bytes.length * chunk * CHUNKS;
      coord.push(moved / tc / 1e9);
      ax.push(moved / ta / 1e9);
      ratios.push(ta / tc);
    }
    const gbps = median(coord);
    rows.push({
      encoding: c.encoding,
      decode: c.decode,
      combine: c.label,
      bytes: bytes.length,
      usPerUpdate: bytes.length / gbps / 1e3,
      coordinatorGBps: gbps,
      axpyGBps: median(ax),
      ratio: median(ratios),
    });
  }
  return { rows, lines: formatAggregationThroughput(rows) };
}

/** The table of measureAggregationThroughput's rows. */
export function formatAggregationThroughput(rows: readonly AggregationThroughputRow[]): string[] {
  const head = ['update', 'bytes', 'decode', 'combine', 'µs/update', 'coordinator GB/s', 'axpy GB/s', 'ratio'];
  const body = rows.map((r) => [
    r.encoding,
    String(r.bytes),
    r.decode,
    r.combine,
    r.usPerUpdate.toFixed(1),
    r.coordinatorGBps.toFixed(2),
    r.axpyGBps.toFixed(2),
    `${(r.ratio * 100).toFixed(0)} %`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 2 || i === 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [
    'Coordinator aggregation (decode → validate → fold, ML-100K MF update 1682×32 + 1682) vs a plain JS axpy (y₆₄ += a·x₃₂) over the same bytes; medians',
    fmt(head),
    ...body.map(fmt),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const repeats = Number(process.argv.find((a) => a.startsWith('--repeats='))?.slice(10) ?? 15);
  for (const line of measureAggregationThroughput({ repeats }).lines) console.log(line);
}
