/**
 * Both models side by side, end to end: a coordinator federating the embedding and the
 * sequence model (`--models mf,sasrec`), three browser contexts on WebGPU each clicking
 * its own sequence of items, federated rounds of both models until both global versions
 * advance, and the web app showing the embedding model's "recommended for you" beside
 * the sequence model's "because you just looked at …", both computed on-device.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { HealthResponseSchema, ModelsResponseSchema, RoundsResponseSchema } from '../shared/protocol/messages.ts';
import { modelApiPath } from '../shared/protocol/model-routes.ts';
import { ensureBuilt } from './harness/build.ts';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { getJson, REPO_ROOT, startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { SMALL_MODELS_ARGS } from './harness/coordinator-process.ts';
import { modelState, readState, waitFor } from './harness/page-state.ts';
import { assertOnlyAllowedTrafficSent } from './harness/assert-allowed-traffic.ts';
import { captureTraffic, type TrafficCapture } from './harness/traffic-capture.ts';

const MODELS = ['mf', 'sasrec'] as const;
const TARGET_VERSION = 2;
const TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 300_000);

let coordinator: RunningCoordinator | undefined;
let browser: Browser | undefined;
const pages: { context: BrowserContext; page: Page; console: string[]; traffic: TrafficCapture }[] = [];

const diagnostics = () =>
  `\ncoordinator log (tail):\n${coordinator?.logs.slice(-30).join('\n')}\n` + pages.map((p, k) => `page ${k} console:\n${p.console.slice(-15).join('\n')}`).join('\n');

before(async () => {
  await ensureBuilt();
  coordinator = await startCoordinator({
    extraArgs: [...SMALL_MODELS_ARGS],
  });
  browser = await launchChromium();
});

after(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

test('three WebGPU browsers train both models; each page shows both models\' recommendations side by side', { timeout: 480_000 }, async () => {
  const url = coordinator!.url;
  const served = ModelsResponseSchema.parse(await getJson(url, '/api/models'));
  assert.deepEqual(served.models.map((m) => m.model.kind), [...MODELS]);

  for (let k = 0; k < 3; k++) {
    const context = await browser!.newContext();
    const page = await context.newPage();
    pages.push({ context, page, console: collectConsole(page, `p${k} `), traffic: captureTraffic(page) });
    await page.goto(`${url}/?backend=webgpu`);
  }
  const titles = await getJson<{ titles: string[] }>(url, '/api/catalog');
  const clickedBy = (k: number) => [0, 1, 2, 3, 4].map((j) => 10 * k + j);
  for (const [k, { page }] of pages.entries()) {
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 });
    const s = await readState(page);
    assert.equal(s.backend, 'webgpu');
    assert.deepEqual(Object.keys(s.models), [...MODELS], `page ${k} shows one panel per served model, in order`);
    // Each person clicks a short run of consecutive items, in order.
    for (const item of clickedBy(k)) {
      await page.locator(`[data-testid=catalog-item][data-item-id="${item}"] button[data-testid=like]`).click();
    }
  }

  const health = async () => HealthResponseSchema.parse(await getJson(url, '/api/health')).models;
  const v0 = await health();
  await waitFor(`both global versions advance by ≥ ${TARGET_VERSION}, every page joined ≥ 2 rounds of each`, TIMEOUT_MS, async () => {
    const h = await health();
    const states = await Promise.all(pages.map((p) => readState(p.page)));
    return MODELS.every((m) => h[m].version >= v0[m].version + TARGET_VERSION && states.every((s) => modelState(s, m).roundsJoined >= 2));
  }, 2000, diagnostics);

  for (const [k, { page }] of pages.entries()) {
    const s = await waitFor(`page ${k}: both panels recomputed on version ≥ ${TARGET_VERSION}`, 60_000, async () => {
      const st = await readState(page);
      return MODELS.every((m) => modelState(st, m).recs.length > 0 && (modelState(st, m).recsVersion ?? -1) >= TARGET_VERSION) ? st : null;
    }, 1000, diagnostics);
    const clicked = new Set(clickedBy(k));
    const mf = modelState(s, 'mf');
    const seq = modelState(s, 'sasrec');
    assert.equal(mf.recsHeading, 'Recommended for you');
    assert.equal(seq.recsHeading, `Because you just looked at “${titles.titles[10 * k + 4]}”`);
    for (const m of [mf, seq]) assert.ok(m.recs.every((item) => !clicked.has(item)), 'recommendations exclude what the person already clicked');
    console.log(`page ${k}: embedding (v${mf.recsVersion}) ${mf.recs.join(',')} | sequence (v${seq.recsVersion}) ${seq.recs.join(',')}`);
  }
  for (const m of MODELS) {
    const rounds = RoundsResponseSchema.parse(await getJson(url, `${modelApiPath(m)}/rounds`));
    assert.ok(rounds.rounds.filter((r) => r.outcome === 'aggregated').length >= TARGET_VERSION, `${m}: too few aggregated rounds`);
  }
  // Neither model's updates carry what was clicked or in which order.
  for (const [k, p] of pages.entries()) {
    const namespaces = new Set(p.traffic.frames.map((f) => (typeof f.payload === 'string' ? /^\d+(\/models\/\w+),/.exec(f.payload)?.[1] : undefined)).filter(Boolean));
    assert.deepEqual([...namespaces].sort(), MODELS.map((m) => `/models/${m}`), `page ${k} talks to both models' namespaces`);
    await p.traffic.settle(); assertOnlyAllowedTrafficSent(p.traffic, { origin: url, liked: clickedBy(k), page: `page ${k}` });
  }
  const artifacts = path.join(REPO_ROOT, 'e2e', 'artifacts');
  await mkdir(artifacts, { recursive: true });
  await pages[0].page.screenshot({ path: path.join(artifacts, 'webapp-side-by-side.png'), fullPage: true });
});
