/**
 * The browser's non-GPU path trains the embedding model on the typed-array kernels (issue
 * 12): a real page on the wasm backend joins a round of a real coordinator, its update is
 * accepted (the ack counts the round joined) and the page says the WebAssembly SIMD kernel
 * trained it; a page on WebGPU in the same round keeps TensorFlow.js. With the item-feature
 * tower on, the wasm page trains on the tower's JS kernel.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ensureBuilt } from './harness/build.ts';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import path from 'node:path';
import { REPO_ROOT, startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { modelState, readState, waitFor } from './harness/page-state.ts';

const TRAINING_TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 240_000);

let browser: Browser | undefined;
let coordinator: RunningCoordinator | undefined;
const consoles = new Map<string, string[]>();
const diagnostics = () =>
  `\ncoordinator log (tail):\n${coordinator?.logs.slice(-30).join('\n')}\n` +
  [...consoles].map(([name, lines]) => `${name} console:\n${lines.slice(-15).join('\n')}`).join('\n');

before(async () => {
  await ensureBuilt();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

/** A fresh profile on `backend` that likes three catalog items and waits for the app to be ready. */
async function openPage(name: string, backend: string, likeFrom: number): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser!.newContext();
  const page = await context.newPage();
  consoles.set(name, collectConsole(page));
  await page.goto(`${coordinator!.url}/?backend=${backend}`);
  await page
    .waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 })
    .catch((e: Error) => assert.fail(`${name} never became ready: ${e.message}${diagnostics()}`));
  const shown = await page.$$eval('[data-testid=catalog] [data-testid=catalog-item]', (els) => els.map((e) => Number((e as HTMLElement).dataset.itemId)));
  for (const item of shown.slice(likeFrom, likeFrom + 3)) await page.locator(`[data-testid=catalog] [data-testid=catalog-item][data-item-id="${item}"] button[data-testid=like]`).click();
  return { context, page };
}

/** What the page says trained its last MF round (data-trainer of the status row), '' before the first. */
const trainerShown = (page: Page) => page.$eval('[data-testid=model-trainer-mf]', (e) => (e as HTMLElement).dataset.trainer ?? '');

/** Waits until the page's update of a round was accepted (rounds joined counts acks) and returns what trained it. */
async function acceptedTrainer(name: string, page: Page): Promise<string> {
  await waitFor(`${name} to have an update accepted`, TRAINING_TIMEOUT_MS, async () => modelState(await readState(page), 'mf').roundsJoined >= 1, 1000, diagnostics);
  return trainerShown(page);
}

test('a wasm page trains MF on the WebAssembly SIMD kernel, a WebGPU page on TensorFlow.js, both accepted in one round', { timeout: 480_000 }, async () => {
  coordinator = await startCoordinator({
    extraArgs: ['--models', 'mf', '--item-features', 'off', '--dim', '16', '--min-clients', '2', '--min-per-round', '2', '--local-epochs', '1', '--max-rounds', '1'],
  });
  const wasm = await openPage('wasm page', 'wasm', 2);
  const gpu = await openPage('webgpu page', 'webgpu', 5);
  try {
    assert.equal((await readState(wasm.page)).backend, 'wasm');
    assert.equal((await readState(gpu.page)).backend, 'webgpu');
    assert.equal(await acceptedTrainer('wasm page', wasm.page), 'mf-wasm-simd');
    assert.equal(await acceptedTrainer('webgpu page', gpu.page), 'tfjs');
    // The round that took both updates was published.
    await waitFor('version 1 on the wasm page', 60_000, async () => modelState(await readState(wasm.page), 'mf').version === 1, 500, diagnostics);
    assert.equal(await wasm.page.textContent('[data-testid=model-trainer-mf]'), 'WebAssembly SIMD kernel');
    await wasm.page.locator('[data-testid=status]').screenshot({ path: path.join(REPO_ROOT, 'e2e', 'artifacts', 'webapp-kernel-trainer.png') });
    for (const lines of consoles.values()) assert.ok(!lines.some((l) => /kernel training failed|kernel is unavailable/.test(l)), `a kernel fell back:\n${lines.join('\n')}`);
  } finally {
    await wasm.context.close();
    await gpu.context.close();
    await coordinator.stop();
    coordinator = undefined;
  }
});

test('with the item-feature tower, a wasm page trains MF on the tower kernel and its update is accepted', { timeout: 300_000 }, async () => {
  coordinator = await startCoordinator({
    extraArgs: ['--models', 'mf', '--item-features', 'on', '--dim', '16', '--min-clients', '1', '--min-per-round', '1', '--local-epochs', '1', '--max-rounds', '1'],
  });
  const wasm = await openPage('tower wasm page', 'wasm', 2);
  try {
    assert.equal(await acceptedTrainer('tower wasm page', wasm.page), 'mf-tower-js');
  } finally {
    await wasm.context.close();
  }
});
