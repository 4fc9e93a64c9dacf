/**
 * "What left this device" is cumulative and true (issue 10): a real page trains two
 * rounds against a real coordinator, is reloaded, and shows the same rounds joined and
 * bytes sent as before — they live in IndexedDB, not in the page. And a person's data
 * from the previous database version (v2: interactions, a local user vector) survives
 * the upgrade that added the counters.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ensureBuilt } from './harness/build.ts';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { modelState, readLikedItems, readState, waitFor } from './harness/page-state.ts';

const TRAINING_TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 240_000);
const ROUNDS = 2;

let coordinator: RunningCoordinator | undefined;
let browser: Browser | undefined;
let consoleLines: string[] = [];
const diagnostics = () => `\ncoordinator log (tail):\n${coordinator?.logs.slice(-30).join('\n')}\npage console:\n${consoleLines.slice(-20).join('\n')}`;

before(async () => {
  await ensureBuilt();
  coordinator = await startCoordinator({
    // One page trains on its own; exactly two rounds, so the counters are still when the page reloads.
    extraArgs: ['--models', 'mf', '--min-clients', '1', '--min-per-round', '1', '--clients-per-round', '1', '--local-epochs', '1', '--max-rounds', String(ROUNDS)],
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

async function ready(page: Page): Promise<void> {
  await page
    .waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 })
    .catch((e: Error) => assert.fail(`page never became ready: ${e.message}${diagnostics()}`));
}

test('rounds joined and bytes sent survive a reload', { timeout: 480_000 }, async () => {
  const url = coordinator!.url;
  const context = await browser!.newContext();
  try {
    const page = await context.newPage();
    consoleLines = collectConsole(page);
    await page.goto(`${url}/?backend=wasm`);
    await ready(page);
    const shown = await page.$$eval('[data-testid=catalog] [data-testid=catalog-item]', (els) => els.map((e) => Number((e as HTMLElement).dataset.itemId)));
    for (const item of shown.slice(3, 6)) await page.locator(`[data-testid=catalog] [data-testid=catalog-item][data-item-id="${item}"] button[data-testid=like]`).click();

    const trained = await waitFor(`the page to join ${ROUNDS} rounds`, TRAINING_TIMEOUT_MS, async () => {
      const s = modelState(await readState(page), 'mf');
      return s.roundsJoined >= ROUNDS && s.bytesSent > 0 ? s : null;
    }, 1000, diagnostics);
    assert.equal(trained.roundsJoined, ROUNDS);
    const liked = (await readLikedItems(page)).sort((a, b) => a - b);
    console.log(`before reload: ${trained.roundsJoined} rounds joined, ${trained.bytesSent} bytes sent; liked ${liked.join(',')}`);

    await page.reload();
    await ready(page);
    // The counters are read from IndexedDB when the participant starts: wait for them, then compare exactly (no round runs after the last).
    const reloaded = await waitFor('the reloaded page to show its counters', 60_000, async () => {
      const s = modelState(await readState(page), 'mf');
      return s.roundsJoined > 0 ? s : null;
    }, 500, diagnostics);
    console.log(`after reload: ${reloaded.roundsJoined} rounds joined, ${reloaded.bytesSent} bytes sent`);
    assert.equal(reloaded.roundsJoined, trained.roundsJoined, 'rounds joined were reset by the reload');
    assert.equal(reloaded.bytesSent, trained.bytesSent, 'bytes sent were reset by the reload');
    assert.deepEqual((await readLikedItems(page)).sort((a, b) => a - b), liked);
  } finally {
    await context.close();
  }
});

/** A version-2 database as the previous release wrote it: one like and a local user vector. Written as a string (see page-state.ts on tsx and page.evaluate). */
const WRITE_V2_DB = `new Promise((resolve, reject) => {
  const req = indexedDB.open('flock', 2);
  req.onupgradeneeded = () => {
    const d = req.result;
    d.createObjectStore('interactions', { autoIncrement: true });
    d.createObjectStore('local', { keyPath: 'modelKind' });
    d.createObjectStore('meta');
    d.createObjectStore('weights', { keyPath: ['modelKind', 'version'] }).createIndex('byModel', 'modelKind');
    d.createObjectStore('outbox', { autoIncrement: true }).createIndex('byModel', 'modelKind');
  };
  req.onerror = () => reject(req.error);
  req.onsuccess = () => {
    const d = req.result;
    const tx = d.transaction(['interactions', 'local'], 'readwrite');
    tx.objectStore('interactions').add({ item: 7, rating: 1, kind: 'click', timestamp: 1 });
    tx.objectStore('local').put({ modelKind: 'mf', tensors: { userEmbedding: new Float32Array(Array.from({ length: 16 }, (_, i) => i / 16)) } });
    tx.oncomplete = () => { d.close(); resolve(true); };
    tx.onerror = () => reject(tx.error);
  };
})`;

/** The database as it is now: its version, stores, interactions and the mf local vector. */
const READ_DB = `new Promise((resolve, reject) => {
  const req = indexedDB.open('flock');
  req.onerror = () => reject(req.error);
  req.onsuccess = () => {
    const d = req.result;
    const tx = d.transaction(['interactions', 'local'], 'readonly');
    const all = tx.objectStore('interactions').getAll();
    const local = tx.objectStore('local').get('mf');
    tx.oncomplete = () => {
      resolve({ version: d.version, stores: Array.from(d.objectStoreNames).sort(), items: all.result.map((i) => i.item), local: local.result ? Array.from(local.result.tensors.userEmbedding ?? []) : null });
      d.close();
    };
  };
})`;

test('the upgrade from database version 2 keeps the person\'s interactions and local vector', { timeout: 240_000 }, async () => {
  const url = coordinator!.url;
  const context = await browser!.newContext();
  try {
    // No weights reach the page, so it never fits (and rewrites) the local vector: what is read back is what the upgrade kept.
    await context.route('**/api/models/*/weights/*', (route) => route.abort());
    const page = await context.newPage();
    consoleLines = collectConsole(page);
    // Same origin as the app, before the app has ever opened its database.
    await page.goto(`${url}/api/health`);
    await page.evaluate(WRITE_V2_DB);
    await page.goto(`${url}/?backend=wasm`);
    await ready(page);
    await waitFor('the catalog to mark the like kept from version 2', 60_000, async () => (await readLikedItems(page)).includes(7), 500, diagnostics);
    const db = (await page.evaluate(READ_DB)) as { version: number; stores: string[]; items: number[]; local: number[] | null };
    assert.equal(db.version, 3);
    assert.deepEqual(db.stores, ['interactions', 'local', 'meta', 'outbox', 'participation', 'uploads', 'weights']);
    assert.deepEqual(db.items, [7]);
    assert.deepEqual(db.local, Array.from(new Float32Array(Array.from({ length: 16 }, (_, i) => i / 16))));
  } finally {
    await context.close();
  }
});
