/**
 * The sequence model end to end: a coordinator set to `--model sasrec`, three browser
 * contexts on WebGPU each clicking its own sequence of items, federated rounds until
 * the global version advances, and the web app's "because you just looked at …"
 * next-item recommendations computed on-device from the sequence model.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ensureBuilt } from './harness/build.ts';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { getJson, startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { readState, waitFor } from './harness/page-state.ts';

const TARGET_VERSION = 2;
const TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 240_000);

let coordinator: RunningCoordinator | undefined;
let browser: Browser | undefined;
const pages: { context: BrowserContext; page: Page; console: string[] }[] = [];

const diagnostics = () =>
  `\ncoordinator log (tail):\n${coordinator?.logs.slice(-30).join('\n')}\n` + pages.map((p, k) => `page ${k} console:\n${p.console.slice(-15).join('\n')}`).join('\n');

before(async () => {
  await ensureBuilt();
  coordinator = await startCoordinator({
    // A small sequence model: SwiftShader's WebGPU is a CPU emulation.
    extraArgs: ['--model', 'sasrec', '--dim', '16', '--max-len', '10', '--blocks', '1', '--heads', '2', '--local-epochs', '1'],
  });
  browser = await launchChromium();
});

after(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

test('three WebGPU browsers train the sequence model and the global version advances', { timeout: 420_000 }, async () => {
  const url = coordinator!.url;
  const info = await getJson<{ model: { kind: string } }>(url, '/api/model');
  assert.equal(info.model.kind, 'sasrec');

  for (let k = 0; k < 3; k++) {
    const context = await browser!.newContext();
    const page = await context.newPage();
    pages.push({ context, page, console: collectConsole(page, `p${k} `) });
    await page.goto(`${url}/?backend=webgpu`);
  }
  const titles = await getJson<{ titles: string[] }>(url, '/api/catalog');
  for (const [k, { page }] of pages.entries()) {
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 });
    assert.equal((await readState(page)).backend, 'webgpu');
    // Each person clicks a short run of consecutive items, in order.
    const items = [0, 1, 2, 3, 4].map((j) => 10 * k + j);
    for (const item of items) {
      await page.locator(`[data-testid=catalog-item][data-item-id="${item}"] button[data-testid=like]`).click();
    }
  }

  const v0 = (await getJson<{ version: number }>(url, '/api/health')).version;
  await waitFor(`global version ≥ ${v0 + TARGET_VERSION}, every page joined ≥ 2 rounds`, TIMEOUT_MS, async () => {
    const h = await getJson<{ version: number }>(url, '/api/health');
    const states = await Promise.all(pages.map((p) => readState(p.page)));
    return h.version >= v0 + TARGET_VERSION && states.every((s) => s.roundsJoined >= 2);
  }, 2000, diagnostics);

  for (const [k, { page }] of pages.entries()) {
    const s = await waitFor(`page ${k} next-item recommendations`, 60_000, async () => {
      const st = await readState(page);
      return st.recs.length > 0 && (st.recsVersion ?? -1) >= TARGET_VERSION ? st : null;
    }, 1000, diagnostics);
    const last = titles.titles[10 * k + 4];
    assert.equal(s.recsHeading, `Because you just looked at “${last}”`);
    const clicked = new Set([0, 1, 2, 3, 4].map((j) => 10 * k + j));
    assert.ok(s.recs.every((item) => !clicked.has(item)), 'recommendations exclude what the person already clicked');
    console.log(`page ${k} (v${s.recsVersion}) ${s.recsHeading}: ${s.recs.join(',')}`);
  }
  const rounds = await getJson<{ rounds: { outcome: string }[] }>(url, '/api/rounds');
  assert.ok(rounds.rounds.filter((r) => r.outcome === 'aggregated').length >= TARGET_VERSION);
});
