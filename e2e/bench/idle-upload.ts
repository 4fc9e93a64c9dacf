/**
 * `npm run bench:idle-upload`: what an idle open tab uploads per hour (issue 10), before
 * and after paced rounds and the upload budget, side by side.
 *
 * Each phase starts a real coordinator with its DEFAULT settings (`flock serve` with only
 * --host, --port, --data-dir and --static: both models, --min-clients 2, the default
 * round delay / interval / budget of that revision) and opens TABS real Chromium tabs,
 * each in a profile of its own (the wasm backend, so a 2-core machine keeps up). Each
 * tab likes three catalog items, then sits idle and visible for MINUTES. Counted: every
 * byte each tab sends after its first like — WebSocket frames (text and binary) and
 * request bodies, as Chromium reports them — and the binary frames (updates). "Per hour"
 * scales the window to 60 minutes; with the upload budget on, no rolling hour can hold
 * more than the budget, which the table states next to it.
 *
 * Phases:
 * - before: a checkout of the old revision (IDLE_BEFORE_TREE, e.g. `git worktree add
 *   /tmp/before d4fd08e` with node_modules linked): its coordinator and its web app
 *   (built into <tree>/dist-idle-upload when missing);
 * - after: this tree with its defaults (30 s round interval, 1 MB/hour budget);
 * - after-no-budget: this tree, the budget raised to 1 GB/hour in each tab's IndexedDB
 *   before its first like: the round interval alone.
 *
 * Options (environment): IDLE_MINUTES (default 3), IDLE_TABS (default 3), IDLE_PHASES
 * (comma list, default before,after,after-no-budget; 'before' is skipped without
 * IDLE_BEFORE_TREE), FLOCK_DIST (where this tree's web app is built, see e2e/harness/build.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { forEachLine } from '../../coordinator/runtime/stream-lines.ts';
import { DEFAULT_UPLOAD_BUDGET_BYTES_PER_HOUR } from '../../shared/participant/upload-budget.ts';
import { ensureBuilt } from '../harness/build.ts';
import { launchChromium } from '../harness/chromium.ts';
import { REPO_ROOT } from '../harness/coordinator-process.ts';

const MINUTES = Number(process.env.IDLE_MINUTES ?? 3);
const TABS = Number(process.env.IDLE_TABS ?? 3);
const BEFORE_TREE = process.env.IDLE_BEFORE_TREE;
const PHASES = (process.env.IDLE_PHASES ?? 'before,after,after-no-budget').split(',').map((s) => s.trim());
const NO_BUDGET = 1_000_000_000;

interface PhaseResult {
  readonly phase: string;
  readonly what: string;
  /** Bytes each tab sent in the window. */
  readonly bytes: number[];
  /** Binary frames (updates) each tab sent in the window. */
  readonly updates: number[];
  readonly budget: number | null;
  /** Bytes all tabs together had sent at the end of each minute of the window (cumulative). */
  readonly byMinute: number[];
}

/** Starts `flock serve` of `tree` with its defaults; resolves with its URL once it listens. */
async function serve(tree: string, staticDir: string, dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'coordinator/cli.ts', 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--static', staticDir], {
    cwd: tree,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coordinator in ${tree} did not listen within 120 s:\n${tail.join('\n')}`)), 120_000);
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(line);
      if (m && line.includes('"msg":"listening"')) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    };
    forEachLine(child.stdout!, onLine);
    forEachLine(child.stderr!, onLine);
    child.once('exit', (code) => reject(new Error(`coordinator in ${tree} exited (${code}):\n${tail.join('\n')}`)));
  });
  return { url, child };
}

/** Counts what one page sends from `counting()` on: WebSocket frames and request bodies. */
function meter(page: Page): { start(): void; bytes(): number; updates(): number } {
  let on = false;
  let bytes = 0;
  let updates = 0;
  page.on('websocket', (ws) =>
    ws.on('framesent', (f) => {
      if (!on) return;
      if (typeof f.payload === 'string') bytes += Buffer.byteLength(f.payload, 'utf8');
      else {
        bytes += f.payload.byteLength;
        updates++;
      }
    }),
  );
  page.on('request', (r) => {
    if (on) bytes += r.postDataBuffer()?.byteLength ?? 0;
  });
  return { start: () => (on = true), bytes: () => bytes, updates: () => updates };
}

/** Sets the upload budget in the page's IndexedDB (the store reads it before every round). Written as a string: see e2e/harness/page-state.ts. */
const setBudgetJs = (bytes: number) => `new Promise((resolve, reject) => {
  const req = indexedDB.open('flock');
  req.onerror = () => reject(req.error);
  req.onsuccess = () => {
    const d = req.result;
    const tx = d.transaction('meta', 'readwrite');
    tx.objectStore('meta').put(${bytes}, 'uploadBudgetBytesPerHour');
    tx.oncomplete = () => { d.close(); resolve(true); };
    tx.onerror = () => reject(tx.error);
  };
})`;

async function runPhase(browser: Browser, phase: string, tree: string, staticDir: string, budget: number | null): Promise<PhaseResult> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `flock-idle-${phase}-`));
  const { url, child } = await serve(tree, staticDir, dataDir);
  const contexts: BrowserContext[] = [];
  try {
    const meters = [];
    for (let t = 0; t < TABS; t++) {
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      const m = meter(page);
      meters.push(m);
      await page.goto(`${url}/?backend=wasm`);
      await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 });
      if (phase === 'after-no-budget') await page.evaluate(setBudgetJs(NO_BUDGET));
      const shown = await page.$$eval('[data-testid=catalog] [data-testid=catalog-item]', (els) => els.map((e) => Number((e as HTMLElement).dataset.itemId)));
      m.start();
      for (const item of shown.slice(3 * t + 1, 3 * t + 4)) await page.locator(`[data-testid=catalog] [data-testid=catalog-item][data-item-id="${item}"] button[data-testid=like]`).click();
    }
    process.stderr.write(`${phase}: ${TABS} tabs liked 3 items each; idle for ${MINUTES} min…\n`);
    const byMinute: number[] = [];
    const end = Date.now() + MINUTES * 60_000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, Math.min(60_000, end - Date.now())));
      byMinute.push(meters.reduce((n, m) => n + m.bytes(), 0));
    }
    return { phase, what: '', bytes: meters.map((m) => m.bytes()), updates: meters.map((m) => m.updates()), budget, byMinute };
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function buildTree(tree: string): Promise<string> {
  const out = path.join(tree, 'dist-idle-upload');
  if (!existsSync(path.join(out, 'index.html'))) {
    process.stderr.write(`building the web app of ${tree} into ${out}…\n`);
    await promisify(execFile)('npx', ['vite', 'build', '--outDir', out, '--emptyOutDir'], { cwd: tree, env: { ...process.env, FLOCK_DIST: '' }, maxBuffer: 64 << 20, timeout: 600_000 });
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kb = (b: number) => `${(b / 1000).toFixed(0)} KB`;
const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;

async function main(): Promise<void> {
  const browser = await launchChromium();
  const results: PhaseResult[] = [];
  try {
    for (const phase of PHASES) {
      if (phase === 'before') {
        if (!BEFORE_TREE) {
          process.stderr.write('before: skipped (set IDLE_BEFORE_TREE to a checkout of the old revision)\n');
          continue;
        }
        const tree = path.resolve(BEFORE_TREE);
        results.push({ ...(await runPhase(browser, phase, tree, await buildTree(tree), null)), what: `before (${path.basename(tree)}: rounds back to back, 250 ms apart; no budget)` });
      } else if (phase === 'after' || phase === 'after-no-budget') {
        const dist = await ensureBuilt();
        const noBudget = phase === 'after-no-budget';
        const what = noBudget ? 'after, budget raised to 1 GB/h (30 s round interval alone)' : `after, defaults (30 s round interval, ${mb(DEFAULT_UPLOAD_BUDGET_BYTES_PER_HOUR)}/h budget)`;
        results.push({ ...(await runPhase(browser, phase, REPO_ROOT, dist, noBudget ? NO_BUDGET : DEFAULT_UPLOAD_BUDGET_BYTES_PER_HOUR)), what });
      } else throw new Error(`unknown phase '${phase}' (before, after, after-no-budget)`);
    }
  } finally {
    await browser.close();
  }
  const scale = 60 / MINUTES;
  console.log(`\nIdle open tab, default coordinator settings, ${TABS} tabs (profiles) on the wasm backend, ${MINUTES} min after 3 likes each; bytes each tab sent (frames + request bodies), median over tabs [min–max]:\n`);
  console.log('| phase | sent in window | updates in window | per hour (×' + scale.toFixed(0) + ') | bound per rolling hour |');
  console.log('|---|---|---|---|---|');
  const timelines: string[] = [];
  for (const r of results) {
    const perHour = median(r.bytes) * scale;
    const bound = r.budget === null || r.budget >= NO_BUDGET ? 'none' : `${mb(r.budget)} (budget)`;
    const shown = r.budget !== null && r.budget < NO_BUDGET ? `${mb(Math.min(perHour, r.budget))} (window ×${scale.toFixed(0)} = ${mb(perHour)}, capped by the budget)` : mb(perHour);
    timelines.push(`${r.what}: ${r.byMinute.map((b) => kb(b / TABS)).join(', ')}`);
    console.log(`| ${r.what} | ${kb(median(r.bytes))} [${kb(Math.min(...r.bytes))}–${kb(Math.max(...r.bytes))}] | ${median(r.updates)} [${Math.min(...r.updates)}–${Math.max(...r.updates)}] | ${shown} | ${bound} |`);
  }
  console.log('\nSent per tab (mean over tabs), cumulative at the end of each minute:');
  for (const t of timelines) console.log(`- ${t}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
