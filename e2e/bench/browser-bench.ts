/**
 * `npm run bench:browser`: local training steps per second of both models (the
 * embedding model and SASRec) in headless Chromium on webgpu, webgl and wasm, side by
 * side in one run, and in Node on wasm and cpu, with the same code
 * (e2e/bench/training-benchmark.ts) everywhere. Prints one table with the median of
 * several repetitions and the ratio to Node wasm.
 *
 * Data: a seeded random history (never MovieLens) over an ML-100K-sized catalog.
 * Each measurement is time-boxed: a short calibration run sets how many steps a
 * repetition times (about REP_TARGET_MS each), so slow backends run fewer steps.
 *
 * Options (environment): BENCH_REPS (default 5), BENCH_REP_MS (default 1200),
 * BENCH_BACKENDS (comma list, default webgpu,webgl,wasm,node-wasm,node-cpu),
 * BENCH_SECTIONS (comma list, default training,topk,mf-round).
 *
 * Second section, real-time inference: one person's top-10 over a catalog of 10,000 and
 * of 100,000 items for both models (client/lab/top-k-latency.ts), query by query, median
 * and p95 latency: the shared top-K on typed arrays (what the web app's scoring worker
 * runs; measured on the wasm page, it uses no backend) and the same on the tfjs backend
 * of each Chromium target. BENCH_TOPK_QUERIES (default 30) timed queries per case after
 * 3 untimed ones.
 *
 * Third section (mf-round), what a page on the wasm backend gains from training MF on the
 * typed-array kernels (shared/train/mf-kernel-local-training.ts) instead of TensorFlow.js:
 * one client's local training per round (client/lab/mf-round-benchmark.ts; 1682 items,
 * dim 32, a 100-item history, 1 epoch, 4 negatives, batch 32 = 4 SGD steps), tfjs
 * trainLocally on the wasm backend against the kernel, plain and with the feature tower;
 * BENCH_REPS repetitions, the two trainers alternating, median ms per round and the ratio.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { useNodeBackend } from '../../coordinator/runtime/node-tf-backend.ts';
import type { ModelDescriptor } from '../../shared/model/model-registry.ts';
import type { TrainConfig } from '../../shared/model/recommender-model.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import { ensureBuilt } from '../harness/build.ts';
import { collectConsole, launchChromium } from '../harness/chromium.ts';
import { serveStatic, type StaticServer } from '../harness/static-server.ts';
import { benchmarkTraining, type BenchmarkInput, type BenchmarkResult } from '../../shared/train/training-benchmark.ts';
import type { TopKLatencyInput, TopKLatencyResult } from '../../client/lab/top-k-latency.ts';
import type { MfRoundBenchmarkInput, MfRoundBenchmarkResult } from '../../client/lab/mf-round-benchmark.ts';

const REPS = Number(process.env.BENCH_REPS ?? 5);
const REP_TARGET_MS = Number(process.env.BENCH_REP_MS ?? 1200);
const MAX_STEPS_PER_REP = 1000;
const NUM_ITEMS = 1682; // ML-100K's catalog size

type Target = 'webgpu' | 'webgl' | 'wasm' | 'node-wasm' | 'node-cpu';
const ALL_TARGETS: readonly Target[] = ['webgpu', 'webgl', 'wasm', 'node-wasm', 'node-cpu'];
const SECTIONS = (process.env.BENCH_SECTIONS ?? 'training,topk,mf-round').split(',').map((s) => s.trim());
const TOPK_QUERIES = Number(process.env.BENCH_TOPK_QUERIES ?? 30);
const TOPK_CATALOGS = [10_000, 100_000] as const;
const TOPK_K = 10;
const TOPK_HISTORY = 50;
const TARGETS = (process.env.BENCH_BACKENDS?.split(',').map((s) => s.trim()) ?? ALL_TARGETS).filter((t): t is Target =>
  (ALL_TARGETS as readonly string[]).includes(t),
);

interface Case {
  readonly label: string;
  readonly model: ModelDescriptor;
  readonly config: TrainConfig;
  readonly history: number[];
  readonly note: string;
}

/** `length` distinct items of the catalog in a seeded random order. */
function randomHistory(length: number, seed: number): number[] {
  return new SeededRandom(seed).shuffle(Array.from({ length: NUM_ITEMS }, (_, i) => i)).slice(0, length);
}

const CASES: readonly Case[] = [
  {
    label: 'mf',
    model: { kind: 'mf', numItems: NUM_ITEMS, dim: 32 },
    config: { localEpochs: 1, batchSize: 32, learningRate: 0.05, negatives: 4, l2: 1e-4 },
    // 96 = 3 full batches of 32 per epoch, so every timed step has the same shapes.
    history: randomHistory(96, 101),
    note: 'dim 32, batch 32 positives × 4 negatives, history 96 items',
  },
  {
    label: 'sasrec',
    model: { kind: 'sasrec', numItems: NUM_ITEMS, dim: 50, maxLen: 50, blocks: 2, heads: 1, dropout: 0.2 },
    config: { localEpochs: 1, batchSize: 4, learningRate: 0.05, negatives: 1, l2: 1e-4 },
    // 201 items = 200 transitions = 4 full windows of 50: one batch of 4 windows (200 target positions).
    history: randomHistory(201, 202),
    note: 'dim 50, maxLen 50, 2 blocks, 1 head, dropout 0.2, batch 4 windows (200 positions) × 1 negative, history 201 items',
  },
];

interface Measurement {
  readonly target: Target;
  readonly caseLabel: string;
  readonly runs: BenchmarkResult[];
  readonly error?: string;
}

type Runner = (input: BenchmarkInput) => Promise<BenchmarkResult>;

/**
 * An untimed calibration run (2 steps; it also compiles kernels), then REPS
 * repetitions, each sized from the latest ms/step to last about REP_TARGET_MS.
 * One seed per repetition.
 */
async function measure(run: Runner, c: Case): Promise<BenchmarkResult[]> {
  let last = await run({ model: c.model, history: c.history, config: c.config, steps: 2, seed: 1 });
  const runs: BenchmarkResult[] = [];
  for (let r = 0; r < REPS; r++) {
    const steps = Math.max(2, Math.min(MAX_STEPS_PER_REP, Math.round(REP_TARGET_MS / last.msPerStep)));
    last = await run({ model: c.model, history: c.history, config: c.config, steps, seed: 2 + r });
    runs.push(last);
  }
  return runs;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function openLab(browser: Browser, url: string, backend: string): Promise<{ page: Page; lines: string[] }> {
  const page = await browser.newPage();
  const lines = collectConsole(page, `${backend} `);
  await page.goto(`${url}/lab.html?backend=${backend}`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.body.dataset.error !== undefined, null, {
    timeout: 120_000,
  });
  return { page, lines };
}

async function snapshotDist(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'flock-bench-dist-'));
  await cp(await ensureBuilt(), dir, { recursive: true });
  return dir;
}

/** Runs `fn` with a Chromium and a static server over a private copy of dist/, and tears all three down whatever happens. */
async function withLabBrowser<T>(fn: (browser: Browser, url: string) => Promise<T>): Promise<T> {
  const distCopy = await snapshotDist();
  const server = await serveStatic(distCopy);
  const browser = await launchChromium();
  try {
    return await fn(browser, server.url);
  } finally {
    await browser.close().catch(() => {});
    await server.close().catch(() => {});
    await rm(distCopy, { recursive: true, force: true }).catch(() => {});
  }
}

async function browserMeasurements(targets: Target[], progress: (s: string) => void): Promise<Measurement[]> {
  const out: Measurement[] = [];
  if (targets.length === 0) return out;
  // Serve a copy of dist/, so a concurrent `vite build` (emptyOutDir) cannot pull files from under the pages.
  let distCopy = await snapshotDist();
  let server: StaticServer = await serveStatic(distCopy);
  const browser = await launchChromium();
  try {
    for (const target of targets) {
      let { page, lines } = await openLab(browser, server.url, target);
      const hasBenchmark = () => page.evaluate(() => typeof window.flockLab?.benchmark === 'function');
      if (!(await page.evaluate(() => document.body.dataset.error)) && !(await hasBenchmark())) {
        // dist/ predates flockLab.benchmark: rebuild once and reload.
        progress('dist/ is stale (no flockLab.benchmark): rebuilding with vite build');
        await page.close();
        await server.close();
        await rm(distCopy, { recursive: true, force: true });
        process.env.FLOCK_E2E_BUILD = '1';
        distCopy = await snapshotDist();
        delete process.env.FLOCK_E2E_BUILD;
        server = await serveStatic(distCopy);
        ({ page, lines } = await openLab(browser, server.url, target));
      }
      const pageError = await page.evaluate(() => document.body.dataset.error);
      const info = pageError ? null : await page.evaluate(() => window.flockLab!.backend);
      for (const c of CASES) {
        if (pageError || !info || info.name !== target) {
          const why = pageError ?? `lab chose '${info?.name}' instead: ${info?.reason}`;
          out.push({ target, caseLabel: c.label, runs: [], error: `unavailable (${why})` });
          continue;
        }
        const t0 = Date.now();
        try {
          const runs = await measure((input) => page.evaluate((i) => window.flockLab!.benchmark(i), input), c);
          out.push({ target, caseLabel: c.label, runs });
          progress(`${c.label} on chromium ${target}: ${median(runs.map((r) => r.stepsPerSecond)).toFixed(2)} steps/s (${Date.now() - t0} ms)`);
        } catch (err) {
          const tail = lines.slice(-10).join(' | ');
          out.push({ target, caseLabel: c.label, runs: [], error: `${(err as Error).message.split('\n')[0]} ${tail}` });
          progress(`${c.label} on chromium ${target} failed: ${(err as Error).message.split('\n')[0]}`);
        }
      }
      if (info) progress(`chromium ${target}: ${info.reason}`);
      await page.close();
    }
  } finally {
    await browser.close().catch(() => {});
    await server.close().catch(() => {});
    await rm(distCopy, { recursive: true, force: true }).catch(() => {});
  }
  return out;
}

async function nodeMeasurements(targets: Target[], progress: (s: string) => void): Promise<Measurement[]> {
  const out: Measurement[] = [];
  for (const target of targets) {
    const backend = target === 'node-wasm' ? 'wasm' : 'cpu';
    await useNodeBackend(backend);
    for (const c of CASES) {
      const t0 = Date.now();
      try {
        const runs = await measure(benchmarkTraining, c);
        out.push({ target, caseLabel: c.label, runs });
        progress(`${c.label} on node ${backend}: ${median(runs.map((r) => r.stepsPerSecond)).toFixed(2)} steps/s (${Date.now() - t0} ms)`);
      } catch (err) {
        out.push({ target, caseLabel: c.label, runs: [], error: (err as Error).message.split('\n')[0] });
      }
    }
  }
  return out;
}

function targetLabel(t: Target): string {
  return t.startsWith('node-') ? `node ${t.slice(5)}` : `chromium ${t}`;
}

function printTable(all: Measurement[]): void {
  const header = ['model', 'backend', 'steps/s', 'ms/step', 'vs node wasm', 'reps × median steps', 'warm-up ms', 'tensors'];
  const rows: string[][] = [];
  for (const c of CASES) {
    const base = all.find((m) => m.caseLabel === c.label && m.target === 'node-wasm' && m.runs.length > 0);
    const baseSps = base ? median(base.runs.map((r) => r.stepsPerSecond)) : NaN;
    for (const target of TARGETS) {
      const m = all.find((x) => x.caseLabel === c.label && x.target === target);
      if (!m || m.runs.length === 0) {
        rows.push([c.label, targetLabel(target), '—', '—', '—', '—', '—', m?.error ? m.error.slice(0, 100) : 'not run']);
        continue;
      }
      const sps = median(m.runs.map((r) => r.stepsPerSecond));
      const leak = m.runs.some((r) => r.numTensorsAfter !== r.numTensorsBefore);
      rows.push([
        c.label,
        targetLabel(target),
        sps.toFixed(2),
        median(m.runs.map((r) => r.msPerStep)).toFixed(1),
        Number.isFinite(baseSps) ? `${(sps / baseSps).toFixed(2)}×` : 'n/a',
        `${m.runs.length} × ${median(m.runs.map((r) => r.steps))}`,
        median(m.runs.map((r) => r.warmupMs)).toFixed(0),
        leak ? 'LEAK' : 'ok',
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((s, i) => (i < 2 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w, i) => (i < 2 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

interface TopKMeasurement {
  readonly model: 'mf' | 'sasrec';
  readonly numItems: number;
  /** 'js' (shared top-K on typed arrays, the worker's path) or the tfjs backend's name. */
  readonly path: string;
  readonly result: TopKLatencyResult | null;
  readonly error?: string;
}

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

/** Top-10 latency, both models, both catalog sizes: the js path once (on the wasm page), the tfjs path per Chromium target. */
async function topKMeasurements(targets: Target[], progress: (s: string) => void): Promise<TopKMeasurement[]> {
  const out: TopKMeasurement[] = [];
  if (targets.length === 0) return out;
  return withLabBrowser(async (browser, url) => {
    // The js path first, on the first target's page (it uses no backend).
    const paths: { target: Target; path: 'js' | 'tfjs' }[] = [{ target: targets.includes('wasm') ? 'wasm' : targets[0], path: 'js' }, ...targets.map((t) => ({ target: t, path: 'tfjs' as const }))];
    for (const { target, path: which } of paths) {
      const { page, lines } = await openLab(browser, url, target);
      const pageError = await page.evaluate(() => document.body.dataset.error);
      const info = pageError ? null : await page.evaluate(() => window.flockLab!.backend);
      for (const model of ['mf', 'sasrec'] as const) {
        for (const numItems of TOPK_CATALOGS) {
          const label = which === 'js' ? 'js' : target;
          if (pageError || !info || typeof (await page.evaluate(() => typeof window.flockLab?.topKLatency)) !== 'string' || (which === 'tfjs' && info.name !== target)) {
            out.push({ model, numItems, path: label, result: null, error: `unavailable (${pageError ?? info?.reason ?? 'no lab'})` });
            continue;
          }
          const input: TopKLatencyInput = { model, numItems, path: which, k: TOPK_K, queries: TOPK_QUERIES, warmup: 3, historyLength: TOPK_HISTORY, seed: 11 };
          try {
            const result = await page.evaluate((i) => window.flockLab!.topKLatency(i), input);
            out.push({ model, numItems, path: label, result });
            progress(`top-${TOPK_K} ${model} ${numItems} items, ${label}: median ${percentile(result.msPerQuery, 0.5).toFixed(2)} ms`);
          } catch (err) {
            out.push({ model, numItems, path: label, result: null, error: `${(err as Error).message.split('\n')[0]} ${lines.slice(-5).join(' | ')}` });
            progress(`top-${TOPK_K} ${model} ${numItems} items, ${label} failed: ${(err as Error).message.split('\n')[0]}`);
          }
        }
      }
      await page.close();
    }
    return out;
  });
}

function printTopKTable(all: TopKMeasurement[]): void {
  const header = ['model', 'items', 'path', 'median ms', 'p95 ms', 'queries', 'same top-10 as js'];
  const rows = all.map((m) => {
    if (!m.result) return [m.model, String(m.numItems), m.path, '—', '—', '—', (m.error ?? '').slice(0, 90)];
    const js = all.find((x) => x.model === m.model && x.numItems === m.numItems && x.path === 'js')?.result?.firstTopK;
    const same = m.path === 'js' ? '(reference)' : js ? (JSON.stringify(js) === JSON.stringify(m.result.firstTopK) ? 'yes' : 'no') : 'n/a';
    return [m.model, String(m.numItems), m.path === 'js' ? 'js' : `tfjs ${m.path}`, percentile(m.result.msPerQuery, 0.5).toFixed(2), percentile(m.result.msPerQuery, 0.95).toFixed(2), String(m.result.msPerQuery.length), same];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 || i === 2 || i === 6 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

type MfRoundTrainer = MfRoundBenchmarkInput['trainer'];
const MF_ROUND_CASES: readonly { label: string; tower: boolean; trainers: readonly MfRoundTrainer[] }[] = [
  { label: 'mf', tower: false, trainers: ['tfjs', 'kernels', 'kernels-js'] },
  // The tower has one kernel (JS): 'kernels' is it.
  { label: 'mf + feature tower', tower: true, trainers: ['tfjs', 'kernels'] },
];
const MF_ROUND_SETUP = { numItems: NUM_ITEMS, dim: 32, historyLength: 100, config: { localEpochs: 1, batchSize: 32, learningRate: 0.05, negatives: 4, l2: 1e-4 } } as const;

interface MfRoundMeasurement {
  readonly label: string;
  readonly trainer: MfRoundTrainer;
  readonly runs: MfRoundBenchmarkResult[];
  readonly error?: string;
}

/** One client's MF round on the wasm page: tfjs and the kernels in turn (the order rotating), REPS each, every call sized to ~REP_TARGET_MS / 2. */
async function mfRoundMeasurements(progress: (s: string) => void): Promise<MfRoundMeasurement[]> {
  const out: MfRoundMeasurement[] = [];
  return withLabBrowser(async (browser, url) => {
    const { page, lines } = await openLab(browser, url, 'wasm');
    const pageError = await page.evaluate(() => document.body.dataset.error);
    const info = pageError ? null : await page.evaluate(() => window.flockLab!.backend);
    const hasIt = !pageError && (await page.evaluate(() => typeof window.flockLab?.mfRound === 'function'));
    for (const c of MF_ROUND_CASES) {
      if (!info || info.name !== 'wasm' || !hasIt) {
        const why = pageError ?? (!hasIt ? 'dist/ predates flockLab.mfRound: rebuild with FLOCK_E2E_BUILD=1' : `lab chose '${info?.name}': ${info?.reason}`);
        for (const trainer of c.trainers) out.push({ label: c.label, trainer, runs: [], error: `unavailable (${why})` });
        continue;
      }
      const run = (trainer: MfRoundTrainer, rounds: number, seed: number) => {
        const input: MfRoundBenchmarkInput = { ...MF_ROUND_SETUP, trainer, tower: c.tower, rounds, seed };
        return page.evaluate((i) => window.flockLab!.mfRound(i), input);
      };
      try {
        const last = new Map<MfRoundTrainer, MfRoundBenchmarkResult>();
        const runs = new Map<MfRoundTrainer, MfRoundBenchmarkResult[]>(c.trainers.map((t) => [t, []]));
        for (const trainer of c.trainers) last.set(trainer, await run(trainer, 2, 1));
        for (let r = 0; r < REPS; r++) {
          const order = c.trainers.map((_, i) => c.trainers[(i + r) % c.trainers.length]);
          for (const trainer of order) {
            const rounds = Math.max(2, Math.min(20_000, Math.round(REP_TARGET_MS / 2 / Math.max(last.get(trainer)!.msPerRound, 1e-3))));
            const result = await run(trainer, rounds, 2 + r);
            last.set(trainer, result);
            runs.get(trainer)!.push(result);
          }
        }
        for (const trainer of c.trainers) out.push({ label: c.label, trainer, runs: runs.get(trainer)! });
        progress(`mf round (${c.label}): ${c.trainers.map((t) => `${t} ${median(runs.get(t)!.map((x) => x.msPerRound)).toFixed(3)} ms`).join(', ')}`);
      } catch (err) {
        const msg = `${(err as Error).message.split('\n')[0]} ${lines.slice(-5).join(' | ')}`;
        for (const trainer of c.trainers) out.push({ label: c.label, trainer, runs: [], error: msg });
        progress(`mf round (${c.label}) failed: ${msg}`);
      }
    }
    await page.close();
    return out;
  });
}

function printMfRoundTable(all: MfRoundMeasurement[]): void {
  const header = ['model', 'trainer', 'ms/round', 'rounds/s', 'speed-up vs tfjs', 'reps × median rounds', 'first round ms'];
  const rows = all.map((m) => {
    if (m.runs.length === 0) return [m.label, m.trainer, '—', '—', '—', '—', (m.error ?? '').slice(0, 90)];
    const ms = median(m.runs.map((r) => r.msPerRound));
    const tfjs = all.find((x) => x.label === m.label && x.trainer === 'tfjs' && x.runs.length > 0);
    const ratio = tfjs ? median(tfjs.runs.map((r) => r.msPerRound)) / ms : NaN;
    const name = m.trainer === 'tfjs' ? `tfjs ${m.runs[0].backend}` : `kernel ${m.runs[0].trainer}`;
    return [m.label, name, ms.toFixed(3), (1000 / ms).toFixed(0), Number.isFinite(ratio) ? `${ratio.toFixed(1)}×` : 'n/a', `${m.runs.length} × ${median(m.runs.map((r) => r.rounds))}`, median(m.runs.map((r) => r.warmupMs)).toFixed(1)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w, i) => (i < 2 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  const start = Date.now();
  const progress = (s: string) => process.stderr.write(`[bench ${((Date.now() - start) / 1000).toFixed(0)}s] ${s}\n`);
  const browserTargets = TARGETS.filter((t) => !t.startsWith('node-'));
  const nodeTargets = TARGETS.filter((t) => t.startsWith('node-'));
  // Sequential, never overlapping: browser and Node would compete for the same cores.
  const topK = SECTIONS.includes('topk') ? await topKMeasurements(browserTargets, progress) : [];
  if (SECTIONS.includes('topk')) {
    console.log(`\nReal-time inference: top-${TOPK_K} of one person over the whole catalog (client/lab/top-k-latency.ts), ${TOPK_QUERIES} timed queries after 3 untimed,`);
    console.log(`  each a new query (MF: a user vector, dim 16; SASRec dim 16, maxLen 50, 2 blocks, 1 head: the forward pass over a new ${TOPK_HISTORY}-item history included), its ${TOPK_HISTORY} items excluded;`);
    console.log('  js = what the web app\'s scoring worker runs, on typed arrays, no backend (MF: shared/eval/top-k.ts; SASRec: the model\'s scoreAll, then the shared top-K);');
    console.log('  tfjs = matMul + tf.topk on the backend (SASRec: its forward pass there too), read back with async data(); weights uploaded once, not timed\n');
    printTopKTable(topK);
  }
  if (SECTIONS.includes('mf-round')) {
    const mfRound = await mfRoundMeasurements(progress);
    const s = MF_ROUND_SETUP;
    console.log(`\nOne MF client's local training per round in Chromium on the wasm backend (client/lab/mf-round-benchmark.ts): ${s.numItems} items, dim ${s.dim},`);
    console.log(`  a ${s.historyLength}-item history, ${s.config.localEpochs} epoch, batch ${s.config.batchSize}, ${s.config.negatives} negatives (4 SGD steps); tower: 19 genres + 8 decades hashed into 512 buckets;`);
    console.log(`  tfjs = trainLocally on the page's tfjs backend; kernel = MfKernelTrainer.train (what a wasm or cpu page trains MF with; mf-js: the JS kernel`);
    console.log(`  a page without WebAssembly SIMD gets); a new seed each round; median of ${REPS} repetitions of ~${REP_TARGET_MS / 2} ms, the trainers in turn;`);
    console.log(`  Δ, clipping and encoding (the same for all) not timed\n`);
    printMfRoundTable(mfRound);
  }
  if (!SECTIONS.includes('training')) {
    console.log(`Total ${((Date.now() - start) / 1000).toFixed(0)} s on ${(await import('node:os')).cpus().length} CPU cores.`);
    return;
  }
  const results = [...(await browserMeasurements(browserTargets, progress)), ...(await nodeMeasurements(nodeTargets, progress))];

  console.log('\nFlock local-training benchmark (e2e/bench/training-benchmark.ts, the same code in every row)');
  for (const c of CASES) console.log(`  ${c.label}: ${c.note}; catalog ${NUM_ITEMS} items (ML-100K-sized), synthetic seeded history`);
  console.log(
    `  one step = one SGD batch; each repetition times one trainOnBatches call over N batches after a warm-up step ` +
      `(incl. variable upload and the final async read-back); median of ${REPS} repetitions of ~${REP_TARGET_MS} ms\n`,
  );
  printTable(results);
  console.log(
    '\nNote: headless Chromium here has no GPU. Its WebGPU adapter is SwiftShader, a CPU emulation of a GPU ' +
      '(and WebGL, if present, is software-rendered too): these rows measure the emulation on this machine\'s CPU ' +
      'and say nothing about WebGPU or WebGL on real GPUs.',
  );
  console.log(`Total ${((Date.now() - start) / 1000).toFixed(0)} s on ${(await import('node:os')).cpus().length} CPU cores.`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
