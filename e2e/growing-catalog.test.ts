/**
 * A growing catalog in the web app (issue 10): an item the operator adds through the
 * admin API while the coordinator runs appears in the page's catalog and is recommended
 * to a person who never touched it, before any round has trained on it — scored from its
 * features by the MF model's feature tower (shared/model/item-feature-tower.ts).
 *
 * The person (a real Chromium page, wasm backend) likes every item of one genre pair;
 * two Node participants (the same Participant class) like items of other genres. Rounds
 * run until --max-rounds, so the tower has learned what the genres mean and no round runs
 * after the item is added. The new item gets the person's genre pair: its free embedding
 * row is zero, so only the tower can put it in their top 10.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { useNodeBackend } from '../coordinator/runtime/node-tf-backend.ts';
import { coordinatorCredentials } from '../shared/participant/credential-source.ts';
import { MemoryParticipantStore } from '../shared/participant/memory-participant-store.ts';
import { Participant } from '../shared/participant/participant.ts';
import { CatalogResponseSchema, HealthResponseSchema, RoundsResponseSchema } from '../shared/protocol/messages.ts';
import { ensureBuilt } from './harness/build.ts';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { getJson, startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { waitFor } from './harness/page-state.ts';

const TOKEN = 'growing-catalog-e2e-operator-token-0123';
const ROUNDS = 10;
const TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 400_000);

let coordinator: RunningCoordinator | undefined;
let browser: Browser | undefined;
const others: Participant[] = [];

before(async () => {
  await ensureBuilt();
  await useNodeBackend('wasm');
  coordinator = await startCoordinator({
    extraArgs: ['--models', 'mf', '--dim', '16', '--min-clients', '3', '--max-rounds', String(ROUNDS), '--local-epochs', '2', '--operator-token', TOKEN, '--item-features', 'on'],
  });
  browser = await launchChromium();
});

after(async () => {
  for (const p of others) p.stop();
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

const recsOf = (page: Page): Promise<number[]> =>
  page.$$eval('[data-testid=recs-mf] [data-testid=rec-item]', (els) => els.map((e) => Number((e as HTMLElement).dataset.itemId)));

test('an item added through the admin API appears in the catalog and is in the top 10 of a person who never touched it, before any round trained on it', { timeout: 900_000 }, async () => {
  const url = coordinator!.url;
  const catalog = CatalogResponseSchema.parse(await getJson(url, '/api/catalog'));
  const features = catalog.features!;
  const base = catalog.titles.length;
  // The most common genre pair: the person likes every item that has exactly it.
  const key = (i: number) => [...features[i]].sort().join('|');
  const counts = new Map<string, number>();
  for (let i = 0; i < base; i++) counts.set(key(i), (counts.get(key(i)) ?? 0) + 1);
  const pair = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
  const genres = pair.split('|');
  const liked = Array.from({ length: base }, (_, i) => i).filter((i) => key(i) === pair);
  assert.ok(liked.length >= 3, `the genre pair ${pair} has ${liked.length} items`);
  // The others like items sharing neither genre.
  const elsewhere = Array.from({ length: base }, (_, i) => i).filter((i) => !features[i].some((f) => genres.includes(f)));
  for (const u of [0, 1]) {
    const items = elsewhere.filter((_, k) => k % 2 === u).slice(0, 12);
    const store = new MemoryParticipantStore(items.map((item, t) => ({ item, rating: 1, kind: 'click' as const, timestamp: t })));
    const p = new Participant({ serverUrl: url, model: 'mf', seedKey: `growing-catalog-${u}`, credentials: coordinatorCredentials(url, store), store, backend: { name: 'wasm', reason: 'e2e' } });
    others.push(p);
    p.start();
  }

  const context = await browser!.newContext();
  const page = await context.newPage();
  const console_ = collectConsole(page, 'person ');
  const diagnostics = () => `\ncoordinator log (tail):\n${coordinator?.logs.slice(-25).join('\n')}\nperson console:\n${console_.slice(-15).join('\n')}`;
  await page.goto(`${url}/?backend=wasm`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 });
  // The catalog lists the first matching items: find each by its (unique) title.
  for (const item of liked) {
    await page.fill('[data-testid=catalog-filter]', catalog.titles[item]);
    await page.locator(`[data-testid=catalog-item][data-item-id="${item}"] button[data-testid=like]`).click();
  }
  await page.fill('[data-testid=catalog-filter]', '');

  const version = async () => HealthResponseSchema.parse(await getJson(url, '/api/health')).models.mf.version;
  await waitFor(`${ROUNDS} aggregated rounds`, TIMEOUT_MS, async () => (await version()) >= ROUNDS, 2000, diagnostics);
  await waitFor('the person\'s recommendations scored with the last round\'s version', 120_000, async () => (await page.getAttribute('[data-testid=recs-mf]', 'data-recs-version')) === String(ROUNDS), 500, diagnostics);

  const res = await fetch(`${url}/api/admin/catalog/items`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'A Film Like Yours', features: genres }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const added = ((await res.json()) as { id: number }).id;
  assert.equal(added, base);

  // The grown version reaches the page: the item is in the catalog and in the person's top 10.
  await page.fill('[data-testid=catalog-filter]', 'A Film Like Yours');
  await waitFor('the new item in the page\'s catalog', 120_000, async () => (await page.locator(`[data-testid=catalog-item][data-item-id="${added}"]`).count()) === 1, 500, diagnostics);
  const top = await waitFor('the new item in the person\'s top 10', 120_000, async () => {
    const recs = await recsOf(page);
    return recs.includes(added) ? recs : null;
  }, 500, diagnostics);
  assert.ok(top.length <= 10);
  assert.ok(!(await recsOf(page)).some((i) => liked.includes(i)), 'liked items are not recommended');
  await page.screenshot({ path: 'e2e/artifacts/webapp-new-item-recommended.png', fullPage: false });

  // No round trained on the new item: every round closed before it was added (version ROUNDS + 1 is the grown one).
  assert.equal(await version(), ROUNDS + 1);
  const rounds = RoundsResponseSchema.parse(await getJson(url, '/api/models/mf/rounds')).rounds;
  assert.equal(Math.max(...rounds.map((r) => r.round)), ROUNDS);
  await context.close();
});
