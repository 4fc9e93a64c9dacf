/**
 * The web app as a person meets it, in real Chromium against a real coordinator
 * (--min-clients 2, so one person alone cannot start a round):
 *
 * 1. Alone: both panels show "Popular now" — the catalog's own popularity order from
 *    /api/catalog — and each model says it is waiting for others.
 * 2. Search, like, the rating menu keeping its value across re-renders, "your likes",
 *    unlike (from the catalog and from the likes view); keyboard only: Tab reaches a
 *    Like button with a visible focus ring, Enter likes, Space unlikes.
 * 3. A second person arrives, a round runs: the first person's panels switch to
 *    "Recommended for you" / the sequence model's "Because you just looked at …" with
 *    the version they were scored with, bytes are shown formatted ("1.2 KB"), and the
 *    refresh shifted nothing: the cumulative layout shift (PerformanceObserver
 *    'layout-shift', entries without recent input) stays 0 from the page being ready
 *    through the refresh.
 * 4. The layout at 1280×900 (status above the fold) and 390×844 (recommendations before
 *    the catalog, titles not cut): screenshots in e2e/artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CATALOG_PAGE_SIZE } from '../client/app/catalog-view.ts';
import { CatalogResponseSchema, type CatalogResponse } from '../shared/protocol/messages.ts';
import { ensureBuilt } from './harness/build.ts';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { getJson, REPO_ROOT, SMALL_MODELS_ARGS, startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { modelState, readState, waitFor } from './harness/page-state.ts';

const ARTIFACTS = path.join(REPO_ROOT, 'e2e', 'artifacts');
const MODELS = ['mf', 'sasrec'] as const;
const TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 300_000);

let coordinator: RunningCoordinator | undefined;
let browser: Browser | undefined;
let catalog: CatalogResponse;
const contexts: BrowserContext[] = [];
const consoles: string[][] = [];

const diagnostics = () => `\ncoordinator log (tail):\n${coordinator?.logs.slice(-25).join('\n')}\n` + consoles.map((c, i) => `page ${i}:\n${c.slice(-15).join('\n')}`).join('\n');

/** Sums layout shifts not caused by recent input (what CLS counts), from the first paint on. */
const CLS_OBSERVER = `(() => {
  window.__shifts = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.hadRecentInput) continue;
      const what = (e.sources ?? []).map((s) => {
        const n = s.node;
        const el = n && n.nodeType === 1 ? n : n?.parentElement;
        return el ? el.tagName.toLowerCase() + (el.dataset?.testid ? '[' + el.dataset.testid + ']' : '') + (el.className ? '.' + el.className : '') + ' ' + JSON.stringify(s.previousRect) + '→' + JSON.stringify(s.currentRect) : '?';
      });
      window.__shifts.push({ at: e.startTime, value: e.value, what });
    }
  }).observe({ type: 'layout-shift', buffered: true });
})()`;

/** Layout shift (sum of entry values, no recent input) since `since` (performance.now() time). */
async function shiftSince(page: Page, since: number): Promise<number> {
  return (await page.evaluate(`window.__shifts.filter((s) => s.at >= ${since}).reduce((a, s) => a + s.value, 0)`)) as number;
}

async function openPerson(width: number, height: number): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width, height } });
  contexts.push(context);
  const page = await context.newPage();
  consoles.push(collectConsole(page));
  await page.addInitScript(CLS_OBSERVER);
  await page.goto(`${coordinator!.url}/?backend=wasm`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.body.dataset.error !== undefined, null, { timeout: 120_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.error), undefined, `the app failed to start${diagnostics()}`);
  return page;
}

const row = (page: Page, item: number) => page.locator(`[data-testid=catalog] [data-testid=catalog-item][data-item-id="${item}"]`);
/** Finds an item by searching its (unique) title, likes it, clears the search. */
async function likeBySearch(page: Page, item: number): Promise<void> {
  await page.locator('[data-testid=catalog-filter]').fill(catalog.titles[item]);
  await row(page, item).locator('button[data-testid=like]').click();
  await page.locator('[data-testid=catalog-filter]').fill('');
}
let healthNow: unknown = null;
const modelStateOf = async (page: Page, kind: string) => {
  healthNow = await getJson(coordinator!.url, '/api/health');
  return page.locator(`[data-testid=model-state-${kind}]`).getAttribute('data-state');
};
const likedIds = async (page: Page) =>
  (await page.locator('[data-testid=likes] [data-testid=like-item]').evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.itemId)))) as number[];

before(async () => {
  await ensureBuilt();
  coordinator = await startCoordinator({ extraArgs: [...SMALL_MODELS_ARGS, '--min-clients', '2', '--round-timeout', '120000'] });
  catalog = CatalogResponseSchema.parse(await getJson(coordinator.url, '/api/catalog'));
  browser = await launchChromium();
  await mkdir(ARTIFACTS, { recursive: true });
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

test('a person alone, then with someone: popular items and "waiting for others", search, likes, unlike, keyboard, no layout shift, 1280 and 390 px', { timeout: 600_000 }, async () => {
  const popular = catalog.popular ?? [];
  assert.ok(popular.length >= 10, 'the coordinator serves the catalog\'s popularity order');
  const alice = await openPerson(1280, 900);

  // 1. Alone, nothing liked: popular items in the catalog's order, in both panels.
  await waitFor('both panels to show popular items', 60_000, async () => {
    const s = await readState(alice);
    return MODELS.every((m) => modelState(s, m).recs.length === 10);
  }, 250, diagnostics);
  for (const m of MODELS) {
    const s = modelState(await readState(alice), m);
    assert.equal(s.recsHeading, 'Popular now', `${m}: a new person is told the list is what is popular`);
    assert.deepEqual(s.recs, popular.slice(0, 10), `${m}: the catalog's own popularity order`);
    assert.equal(await alice.locator(`[data-testid=recs-${m}]`).getAttribute('data-source'), 'popular');
  }
  // The lists can show before the socket is up ('connecting'); once it is, the state asks for likes.
  await waitFor('the embedding model to ask for likes', 60_000, async () => (await modelStateOf(alice, 'mf')) === 'needs-likes', 250, diagnostics);

  // 2. Search narrows the catalog; a like from the results; "your likes" lists it.
  await alice.locator('[data-testid=catalog-filter]').fill('harbor');
  const shownTitles = await alice.locator('[data-testid=catalog] [data-testid=catalog-item] .title').allTextContents();
  const expected = catalog.titles.filter((t) => t.toLowerCase().includes('harbor'));
  assert.ok(expected.length > 0 && expected.length < catalog.titles.length, 'the search word matches some titles, not all');
  assert.deepEqual(shownTitles, expected.slice(0, CATALOG_PAGE_SIZE), 'the search shows exactly the matching titles');
  const found = catalog.titles.findIndex((t) => t.toLowerCase().includes('harbor'));
  await row(alice, found).locator('button[data-testid=like]').click();
  await waitFor('the liked item in "your likes"', 10_000, async () => (await likedIds(alice)).includes(found), 100, diagnostics);
  await alice.locator('[data-testid=catalog-filter]').fill('');

  // The rating menu keeps its value when the list re-renders (search typed and cleared, page turned and back).
  const rated = popular[0];
  await alice.locator('[data-testid=catalog-filter]').fill(catalog.titles[rated]);
  await row(alice, rated).locator('select[data-testid=rate]').selectOption('4');
  await waitFor('the rating in "your likes"', 10_000, async () => (await likedIds(alice)).includes(rated), 100, diagnostics);
  await alice.locator('[data-testid=catalog-filter]').fill('zz-nothing');
  assert.equal(await alice.locator('[data-testid=catalog] [data-testid=catalog-item]').count(), 0);
  await alice.locator('[data-testid=catalog-filter]').fill(catalog.titles[rated]);
  assert.equal(await row(alice, rated).locator('select[data-testid=rate]').inputValue(), '4', 'the rating menu kept its value after a re-render');
  await alice.locator('[data-testid=catalog-filter]').fill('');

  // Unlike from the likes view: gone from the list and from the catalog's marks.
  await alice.locator(`[data-testid=likes] [data-testid=like-item][data-item-id="${found}"] [data-testid=unlike]`).click();
  await waitFor('the item to leave "your likes"', 10_000, async () => !(await likedIds(alice)).includes(found), 100, diagnostics);

  // Keyboard only: Tab from the search box reaches a Like button, focus is visible, Enter likes, Space unlikes.
  await alice.locator('[data-testid=catalog-filter]').focus();
  let focused: { testid: string; item: number; outline: string } | null = null;
  for (let i = 0; i < 5 && focused?.testid !== 'like'; i++) {
    await alice.keyboard.press('Tab');
    focused = await alice.evaluate(() => {
      const a = document.activeElement as HTMLElement | null;
      return { testid: a?.dataset.testid ?? '', item: Number(a?.closest<HTMLElement>('[data-item-id]')?.dataset.itemId), outline: a ? getComputedStyle(a).outlineStyle : 'none' };
    });
  }
  assert.equal(focused?.testid, 'like', 'Tab from the search box reaches a Like button');
  assert.notEqual(focused!.outline, 'none', 'the focused button shows a focus ring');
  const keyed = focused!.item;
  assert.equal(await row(alice, keyed).getAttribute('data-liked'), 'false');
  await alice.keyboard.press('Enter');
  await waitFor('Enter likes the focused item', 10_000, async () => (await row(alice, keyed).getAttribute('data-liked')) === 'true', 100, diagnostics);
  await alice.keyboard.press('Space');
  await waitFor('Space unlikes it', 10_000, async () => (await row(alice, keyed).getAttribute('data-liked')) === 'false', 100, diagnostics);

  // Likes for the rounds to come: alone, each model waits for others.
  const aliceLikes = popular.slice(1, 6);
  for (const item of aliceLikes) await likeBySearch(alice, item);
  for (const m of MODELS) {
    await waitFor(`${m}: "waiting for others"`, 30_000, async () => (await modelStateOf(alice, m)) === 'waiting', 250, diagnostics);
    assert.match(await alice.locator(`[data-testid=model-state-text-${m}]`).innerText(), /Waiting for others/);
  }
  // Before any round the recommendations stay popular ones, never the untrained model's ranking,
  // and never what the person already liked.
  const touched = [rated, ...aliceLikes];
  const popularLeft = popular.filter((i) => !touched.includes(i)).slice(0, 10);
  await waitFor('popular items without the liked ones', 30_000, async () => {
    const s = await readState(alice);
    return MODELS.every((m) => JSON.stringify(modelState(s, m).recs) === JSON.stringify(popularLeft));
  }, 250, diagnostics);
  for (const m of MODELS) assert.equal(modelState(await readState(alice), m).recsHeading, 'Popular now');

  // The 1280 px layout: the status panel starts above the fold, all three columns side by side.
  const statusBox = await alice.locator('[data-testid=status]').boundingBox();
  assert.ok(statusBox && statusBox.y < 900 - 100, `the status panel starts above the fold at 1280×900 (y = ${statusBox?.y})`);
  const recsBox = (await alice.locator('[data-testid=recs-mf]').boundingBox())!;
  const catalogBox = (await alice.locator('[data-testid=catalog-panel]').boundingBox())!;
  assert.ok(recsBox.x < catalogBox.x && catalogBox.x < statusBox!.x, 'recommendations, catalog and status side by side');
  await alice.screenshot({ path: path.join(ARTIFACTS, 'webapp-product-1280-alone.png') });

  // 3. A second person arrives on a phone: a round can run.
  const bob = await openPerson(390, 844);
  const readyAt = (await alice.evaluate('performance.now()')) as number;
  for (const item of popular.slice(6, 10)) await likeBySearch(bob, item);

  await waitFor('a round to reach both people and Alice\'s panels to be personal', TIMEOUT_MS, async () => {
    const s = await readState(alice);
    return MODELS.every((m) => (modelState(s, m).recsVersion ?? 0) >= 1 && modelState(s, m).recsHeading !== 'Popular now');
  }, 1000, diagnostics);
  const after = await readState(alice);
  assert.equal(modelState(after, 'mf').recsHeading, 'Recommended for you');
  assert.match(modelState(after, 'sasrec').recsHeading, /^Because you just looked at/);
  for (const m of MODELS) {
    assert.equal(await alice.locator(`[data-testid=recs-${m}]`).getAttribute('data-scored-in'), 'worker', `${m}: the top-10 came from the scoring worker`);
    assert.equal(await alice.locator(`[data-testid=recs-${m}]`).getAttribute('data-source'), 'personal');
    const recs = modelState(after, m).recs;
    assert.equal(recs.length, 10);
    assert.ok(recs.every((i) => !aliceLikes.includes(i) && i !== rated), `${m}: no liked item is recommended back`);
  }
  // Sizes formatted, the exact count kept for machines.
  await waitFor('bytes sent shown formatted', TIMEOUT_MS, async () => Number(await alice.locator('[data-testid=bytes-sent-mf]').getAttribute('data-bytes')) > 0, 1000, diagnostics);
  const sent = await alice.locator('[data-testid=bytes-sent-mf]').innerText();
  assert.match(sent, /^\d+(\.\d+)? (B|KB|MB)$/, `bytes shown as a size, got "${sent}"`);

  // The refresh from popular to personal moved nothing on Alice's page (she did not touch it meanwhile).
  const cls = await shiftSince(alice, readyAt);
  assert.ok(cls < 0.001, `layout shift while recommendations refreshed: ${cls}: ${JSON.stringify(await alice.evaluate(`window.__shifts.filter((s) => s.at >= ${readyAt})`))}`);
  await alice.screenshot({ path: path.join(ARTIFACTS, 'webapp-product-1280.png') });


  // With two people online and a round done, neither is "waiting" any more.
  for (const [who, page] of [['Alice', alice], ['Bob', bob]] as const) {
    await waitFor(`${who}: the embedding model up to date`, 30_000, async () => (await modelStateOf(page, 'mf')) === 'up-to-date', 500, () => diagnostics() + `\nhealth: ${JSON.stringify(healthNow)}`);
  }

  // The person sees and changes the per-hour upload budget: the participant takes the new value.
  const budget = alice.locator('[data-testid=upload-budget]');
  assert.ok(Number(await budget.getAttribute('data-bytes-per-hour')) > 0, 'a default upload budget is shown');
  await budget.selectOption(String(4096 * 1024));
  await waitFor('the participant to take the new upload budget', 15_000, async () => (await budget.getAttribute('data-bytes-per-hour')) === String(4096 * 1024), 200, diagnostics);
  assert.match(await alice.locator('[data-testid=upload-used]').innerText(), /^\d+(\.\d+)? (B|KB|MB) used in the last hour$/);

  // 4. The phone layout: recommendations before the catalog, titles whole.
  const bobRecs = (await bob.locator('[data-testid=recs-mf]').boundingBox())!;
  const bobCatalog = (await bob.locator('[data-testid=catalog-panel]').boundingBox())!;
  assert.ok(bobRecs.y < bobCatalog.y, 'on a phone the recommendations come before the catalog');
  const cut = await bob.locator('[data-testid=catalog] [data-testid=catalog-item] .title').evaluateAll((els) =>
    els.filter((e) => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().width < 100).map((e) => e.textContent),
  );
  assert.deepEqual(cut, [], 'no catalog title is cut or squeezed at 390 px');
  const overflow = (await bob.evaluate('document.documentElement.scrollWidth')) as number;
  assert.ok(overflow <= 390, `the page is no wider than the phone (${overflow} px)`);
  await bob.evaluate('window.scrollTo(0, 0)');
  await bob.screenshot({ path: path.join(ARTIFACTS, 'webapp-product-390.png') });
  await bob.screenshot({ path: path.join(ARTIFACTS, 'webapp-product-390-full.png'), fullPage: true });
});
