/**
 * Two tabs of one browser profile share IndexedDB, hence one credential and one
 * participant identity: they must not both train. One browser context (one profile)
 * opens the web app twice, beside two other contexts (other people) so that rounds of
 * both models can run (the coordinator waits for --min-clients 3). Exactly one of the
 * two tabs trains; the other opens no socket and shows the trainer's state; the
 * coordinator counts one participant per profile. When the trainer tab closes, the
 * other takes over with the kept credential and training carries on.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { HealthResponseSchema } from '../shared/protocol/messages.ts';
import { ensureBuilt } from './harness/build.ts';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { getJson, REPO_ROOT, startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { SMALL_MODELS_ARGS } from './harness/coordinator-process.ts';
import { modelState, readLikedItems, readState, readStatusTexts, readTabRole, waitFor } from './harness/page-state.ts';

const MODELS = ['mf', 'sasrec'] as const;
const PROFILES = 3;
const TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 300_000);

let coordinator: RunningCoordinator | undefined;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];
const consoles: string[][] = [];

interface Tab {
  readonly label: string;
  readonly page: Page;
  /** WebSocket URLs this page opened. */
  readonly sockets: string[];
}

const diagnostics = () =>
  `\ncoordinator log (tail):\n${coordinator?.logs.slice(-30).join('\n')}\n` + consoles.map((c) => c.slice(-15).join('\n')).join('\n');

before(async () => {
  await ensureBuilt();
  coordinator = await startCoordinator({
    extraArgs: [...SMALL_MODELS_ARGS],
  });
  browser = await launchChromium();
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

async function openTab(context: BrowserContext, label: string): Promise<Tab> {
  const page = await context.newPage();
  consoles.push(collectConsole(page, `${label} `));
  const sockets: string[] = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(`${coordinator!.url}/?backend=webgpu`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 });
  return { label, page, sockets };
}

async function like(page: Page, items: readonly number[]): Promise<void> {
  for (const item of items) await page.locator(`[data-testid=catalog-item][data-item-id="${item}"] button[data-testid=like]`).click();
}

/** Per model, the version and rounds joined the status panel shows. */
async function counters(page: Page): Promise<Record<string, { version: string; rounds: string }>> {
  const st = await readStatusTexts(page);
  return Object.fromEntries(MODELS.map((m) => [m, { version: st[`model-version-${m}`], rounds: st[`rounds-joined-${m}`] }]));
}

/** What two tabs must show alike: every status figure and each recommendation panel (heading, items, version). */
async function shown(page: Page) {
  const s = await readState(page);
  const status = await readStatusTexts(page);
  const panels = Object.fromEntries(Object.entries(s.models).map(([k, m]) => [k, { heading: m.recsHeading, items: m.recs, version: m.recsVersion }]));
  return { status, panels };
}

const health = async () => HealthResponseSchema.parse(await getJson(coordinator!.url, '/api/health')).models;

test('two tabs of one profile: one trains, the other mirrors it; one participant per profile; the other tab takes over when the trainer closes', { timeout: 900_000 }, async () => {
  const profile = await browser!.newContext();
  contexts.push(profile);
  const first = await openTab(profile, 'A1');
  const second = await openTab(profile, 'A2');
  const others: Tab[] = [];
  for (const label of ['B', 'C']) {
    const context = await browser!.newContext();
    contexts.push(context);
    others.push(await openTab(context, label));
  }

  // Exactly one tab of the profile trains; the other says plainly where training runs.
  const roles = await Promise.all([first, second].map((t) => readTabRole(t.page)));
  assert.deepEqual(roles.map((r) => r.role).sort(), ['follower', 'trainer'], `one trainer and one follower: ${JSON.stringify(roles)}`);
  assert.ok(roles.every((r) => r.election === 'web-locks'), 'Chromium has Web Locks: no fallback election');
  const [trainer, follower] = roles[0].role === 'trainer' ? [first, second] : [second, first];
  const followerRole = await readTabRole(follower.page);
  assert.match(followerRole.note, /Training runs in another tab of this browser/);
  for (const o of others) assert.equal((await readTabRole(o.page)).role, 'trainer', `${o.label} is alone in its profile: it trains`);

  // Likes made in either tab count for the profile and are marked in both.
  const profileLikes = [11, 12, 13, 14];
  await like(follower.page, profileLikes.slice(0, 2));
  await like(trainer.page, profileLikes.slice(2));
  for (const [k, o] of others.entries()) await like(o.page, [40 + 10 * k, 41 + 10 * k, 42 + 10 * k, 43 + 10 * k]);
  for (const t of [trainer, follower]) {
    await waitFor(`${t.label} marks every like of the profile`, 30_000, async () => {
      const liked = await readLikedItems(t.page);
      return profileLikes.every((i) => liked.includes(i));
    }, 500, diagnostics);
  }

  // Rounds of both models run; both tabs show the same versions and rounds joined.
  const v0 = await health();
  await waitFor('both global versions advance by ≥ 2 and the profile joined ≥ 1 round of each', TIMEOUT_MS, async () => {
    const h = await health();
    const s = await readState(trainer.page);
    return MODELS.every((m) => h[m].version >= v0[m].version + 2 && modelState(s, m).roundsJoined >= 1);
  }, 2000, diagnostics);
  // While rounds land every second or so, compare what changes once per round.
  await waitFor('the follower tab shows the versions and rounds joined the trainer tab shows', 180_000, async () => {
    const [a, b] = await Promise.all([counters(trainer.page), counters(follower.page)]);
    return JSON.stringify(a) === JSON.stringify(b) && MODELS.every((m) => a[m].version !== '-' && Number(a[m].rounds) >= 1);
  }, 250, diagnostics);

  // One participant per profile: the follower never opened a socket, the coordinator counts three.
  assert.deepEqual(follower.sockets, [], 'the follower tab opened no socket');
  assert.ok(trainer.sockets.length > 0, 'the trainer tab has a socket');
  const h = await health();
  for (const m of MODELS) assert.equal(h[m].clients, PROFILES, `${m}: the coordinator counts one participant per profile`);
  assert.equal(await trainer.page.locator('[data-testid=replaced]').isVisible(), false, 'the trainer was never replaced');

  // Opt-out is the profile's: set in the follower, the trainer stops sending; opt back in, it reconnects.
  await follower.page.locator('[data-testid=opt-out]').click();
  await waitFor('the trainer tab opts out and disconnects', 60_000, async () => {
    const st = await readStatusTexts(trainer.page);
    const participation = await trainer.page.locator('[data-testid=participation]').innerText();
    return st.connection === 'disconnected' && participation.startsWith('Opted out') && MODELS.every((m) => st[`model-version-${m}`] !== '-');
  }, 500, diagnostics);
  await waitFor('the coordinator no longer counts the profile', 30_000, async () => {
    const hh = await health();
    return MODELS.every((m) => hh[m].clients === PROFILES - 1);
  }, 500, diagnostics);
  // Nothing moves for this profile now: the follower must show exactly what the trainer shows.
  const same = await waitFor('the follower tab shows everything the trainer tab shows (status figures, both recommendation panels)', 60_000, async () => {
    const [a, b] = await Promise.all([shown(trainer.page), shown(follower.page)]);
    // Each panel's list comes from the version the status shows (a recomputation may still be running).
    const ok = JSON.stringify(a) === JSON.stringify(b) && MODELS.every((m) => a.panels[m].items.length > 0 && String(a.panels[m].version) === a.status[`model-version-${m}`]);
    return ok ? a : null;
  }, 500, diagnostics);
  for (const m of MODELS) {
    assert.ok(Number(same.status[`rounds-joined-${m}`]) >= 1, `${m}: the follower shows the rounds the trainer joined`);
    assert.ok(Number(same.status[`bytes-sent-${m}`]) > 0, `${m}: the follower shows the bytes the trainer sent`);
  }
  assert.equal(same.status.connection, 'disconnected');
  // The follower beside the trainer it mirrors, shot when nothing moves (a round in flight at the opt-out may still finish).
  const artifacts = path.join(REPO_ROOT, 'e2e', 'artifacts');
  await mkdir(artifacts, { recursive: true });
  const bothShow = async () => {
    const [a, b] = await Promise.all([shown(trainer.page), shown(follower.page)]);
    return JSON.stringify(a) === JSON.stringify(b) ? JSON.stringify(a) : null;
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    const moment = await bothShow();
    if (moment) {
      await screenshotSideBySide([trainer.page, follower.page], ['trainer tab', 'follower tab (opted out there)'], path.join(artifacts, 'webapp-two-tabs.png'));
      if ((await bothShow()) === moment) break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  await follower.page.locator('[data-testid=opt-out]').click();
  await waitFor('the trainer tab opts in again and reconnects', 60_000, async () => (await readStatusTexts(trainer.page)).connection === 'connected', 500, diagnostics);

  // The trainer tab closes: the follower takes the lock and trains with the kept credential.
  const before = await health();
  const roundsBefore = (await readState(follower.page)).models;
  await trainer.page.close();
  await waitFor('the remaining tab becomes the trainer and connects', 60_000, async () => {
    const r = await readTabRole(follower.page);
    return r.role === 'trainer' && (await readStatusTexts(follower.page)).connection === 'connected';
  }, 500, diagnostics);
  assert.ok(follower.sockets.length > 0, 'the new trainer opened a socket');
  const handedOver = (await readState(follower.page)).models;
  for (const m of MODELS) {
    assert.ok(handedOver[m].roundsJoined >= roundsBefore[m].roundsJoined, `${m}: the new trainer carries on the profile's rounds joined (${handedOver[m].roundsJoined} < ${roundsBefore[m].roundsJoined})`);
    assert.ok(handedOver[m].bytesSent >= roundsBefore[m].bytesSent, `${m}: and its bytes sent`);
  }
  await waitFor('both versions keep advancing (≥ 2 more) with the new trainer joining rounds', TIMEOUT_MS, async () => {
    const hh = await health();
    const s = await readState(follower.page);
    return MODELS.every((m) => hh[m].version >= before[m].version + 2 && modelState(s, m).roundsJoined > roundsBefore[m].roundsJoined);
  }, 2000, diagnostics);
  const after = await health();
  for (const m of MODELS) assert.equal(after[m].clients, PROFILES, `${m}: still one participant per profile after the handover`);
});

test('a copied profile (same identity, another session): the older session stands down and says so instead of fighting', { timeout: 600_000 }, async () => {
  const original = await browser!.newContext();
  contexts.push(original);
  const tab = await openTab(original, 'D');
  await like(tab.page, [50, 51]);
  await waitFor('D connects', 60_000, async () => (await readStatusTexts(tab.page)).connection === 'connected', 500, diagnostics);
  // The copy carries IndexedDB, hence the credential: the coordinator sees the same participant connect again.
  const copy = await browser!.newContext({ storageState: await original.storageState({ indexedDB: true }) });
  contexts.push(copy);
  const twin = await openTab(copy, 'D-copy');
  assert.equal((await readTabRole(twin.page)).role, 'trainer', 'the copy is its own profile: it trains');
  await waitFor('the original session shows it was replaced and disconnects', 60_000, async () => {
    const replaced = await tab.page.locator('[data-testid=replaced]').isVisible();
    return replaced && (await readStatusTexts(tab.page)).connection === 'disconnected';
  }, 500, diagnostics);
  assert.match(await tab.page.locator('[data-testid=replaced]').innerText(), /Another session with this browser's identity connected/);

  // Rounds go on; the original does not come back to take the identity again.
  const before = await health();
  await waitFor('both versions advance by ≥ 1 with the copy training', TIMEOUT_MS, async () => {
    const h = await health();
    return MODELS.every((m) => h[m].version >= before[m].version + 1);
  }, 2000, diagnostics);
  assert.equal(await twin.page.locator('[data-testid=replaced]').isVisible(), false, 'the copy was not replaced back');
  assert.equal((await readStatusTexts(twin.page)).connection, 'connected');
  assert.equal((await readStatusTexts(tab.page)).connection, 'disconnected', 'the original stayed down');
});

/** Each page's side column (recommendations and status), side by side in one image (composed in a blank page). */
async function screenshotSideBySide(pages: Page[], labels: string[], file: string): Promise<void> {
  const shots = await Promise.all(pages.map((p) => p.locator('aside.side').screenshot()));
  const canvas = await browser!.newPage({ viewport: { width: 1200, height: 600 } });
  try {
    const cells = shots
      .map((s, k) => `<figure><figcaption>${labels[k]}</figcaption><img src="data:image/png;base64,${s.toString('base64')}"></figure>`)
      .join('');
    await canvas.setContent(
      `<style>body{margin:0;display:flex;gap:20px;padding:10px;font:16px system-ui;background:#ccc}figure{margin:0}img{display:block;border:1px solid #888}</style>${cells}`,
    );
    await canvas.screenshot({ path: file, fullPage: true });
  } finally {
    await canvas.close();
  }
}
