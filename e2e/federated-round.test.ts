/**
 * Federated rounds end to end: one coordinator, three browser participants (three
 * separate contexts, so three separate IndexedDBs), each forced onto WebGPU, each
 * liking different items through real clicks. Waits until the coordinator has
 * aggregated at least three rounds and every page has joined three rounds and holds
 * version ≥ 3, then checks the recommendations moved and that no raw interaction
 * record ever left a page.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { ensureBuilt } from './harness/build.ts';
import { getJson, REPO_ROOT, startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { captureTraffic, type TrafficCapture } from './harness/traffic-capture.ts';
import { assertOnlyAllowedTrafficSent } from './harness/assert-allowed-traffic.ts';
import { modelState, readState, waitFor as waitForState, type ModelPageState } from './harness/page-state.ts';
import { HealthResponseSchema, type HealthResponse } from '../shared/protocol/messages.ts';
import { modelApiPath } from '../shared/protocol/model-routes.ts';

const NUM_PARTICIPANTS = 3;
const LIKES_PER_PARTICIPANT = 7;
const TARGET_VERSION = 3;
const TARGET_ROUNDS_JOINED = 3;
const TRAINING_TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 240_000);
const ARTIFACTS = path.join(REPO_ROOT, 'e2e', 'artifacts');

interface RoundsDoc {
  rounds: { round: number; outcome: string; newVersion: number | null }[];
}

interface Participant {
  index: number;
  context: BrowserContext;
  page: Page;
  traffic: TrafficCapture;
  console: string[];
  liked: number[];
  rated: { item: number; rating: number } | null;
}

/** waitFor with this test's diagnostics (coordinator log and page consoles) on timeout. */
const waitFor = <T>(what: string, timeoutMs: number, check: () => Promise<T | null | undefined | false>, everyMs = 1000): Promise<T> =>
  waitForState(what, timeoutMs, check, everyMs, diagnostics);

let coordinator: RunningCoordinator | undefined;
let browser: Browser | undefined;
const participants: Participant[] = [];

function diagnostics(): string {
  const parts = [`coordinator log (tail):\n${coordinator?.logs.slice(-40).join('\n') ?? '(not started)'}`];
  for (const p of participants) parts.push(`page ${p.index} console (tail):\n${p.console.slice(-20).join('\n')}`);
  return '\n' + parts.join('\n\n');
}

before(async () => {
  await ensureBuilt();
  coordinator = await startCoordinator({
    // The embedding model alone; e2e/side-by-side-models.test.ts runs both models side by side.
    extraArgs: ['--models', 'mf', '--min-clients', '3', '--clients-per-round', '1', '--local-epochs', '1', '--round-timeout', '60000'],
  });
  console.log(`coordinator at ${coordinator.url} (data dir ${coordinator.dataDir})`);
  browser = await launchChromium();
});

after(async () => {
  for (const p of participants) await p.context.close().catch(() => {});
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

test('three WebGPU browsers train the shared model over ≥ 3 federated rounds, sending no raw interactions', { timeout: 600_000 }, async () => {
  const url = coordinator!.url;
  const health = async (): Promise<HealthResponse['models'][string]> => HealthResponseSchema.parse(await getJson(url, '/api/health')).models.mf;
  const health0 = await health();
  const model = await getJson<{ version: number; model: { kind: string; numItems: number; dim: number } }>(url, modelApiPath('mf'));
  console.log(`initial health ${JSON.stringify(health0)}; model ${JSON.stringify(model.model)} v${model.version}`);

  // Open three participants, traffic capture attached before the first request.
  for (let k = 0; k < NUM_PARTICIPANTS; k++) {
    const context = await browser!.newContext();
    const page = await context.newPage();
    const traffic = captureTraffic(page);
    const consoleLines = collectConsole(page, `p${k} `);
    participants.push({ index: k, context, page, traffic, console: consoleLines, liked: [], rated: null });
    await page.goto(`${url}/?backend=webgpu`);
  }
  for (const p of participants) {
    await p.page
      .waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 })
      .catch((e: Error) => assert.fail(`page ${p.index} never became ready: ${e.message}${diagnostics()}`));
    const s = await readState(p.page);
    assert.equal(s.backend, 'webgpu', `page ${p.index} runs on '${s.backend}', not webgpu${diagnostics()}`);
    assert.deepEqual(Object.keys(s.models), ['mf'], `page ${p.index} must show exactly the served model`);
  }

  // Each context likes a different, deterministic set of items (disjoint: ids k, k+3, k+6, …
  // among the catalog items shown), and rates the first of them 5 via the select.
  const shown = (await participants[0].page.$$eval('[data-testid=catalog] [data-testid=catalog-item]', (els) =>
    els.map((e) => Number((e as HTMLElement).dataset.itemId)),
  )).sort((a, b) => a - b);
  assert.ok(shown.length >= NUM_PARTICIPANTS * LIKES_PER_PARTICIPANT, `catalog shows only ${shown.length} items`);
  for (const p of participants) {
    p.liked = Array.from({ length: LIKES_PER_PARTICIPANT }, (_, j) => shown[p.index + NUM_PARTICIPANTS * j]);
    for (const item of p.liked) {
      const row = p.page.locator(`[data-testid=catalog] [data-testid=catalog-item][data-item-id="${item}"]`);
      await row.locator('button[data-testid=like]').click();
    }
    const first = p.page.locator(`[data-testid=catalog] [data-testid=catalog-item][data-item-id="${p.liked[0]}"]`);
    await first.locator('select[data-testid=rate]').selectOption('5');
    p.rated = { item: p.liked[0], rating: 5 };
    console.log(`page ${p.index} liked ${JSON.stringify(p.liked)}, rated item ${p.liked[0]} 5`);
  }

  // Recommendations before training (computed on whatever version each page holds now).
  const before: ModelPageState[] = [];
  for (const p of participants) {
    before.push(
      await waitFor(`recommendations on page ${p.index}`, 60_000, async () => {
        const s = modelState(await readState(p.page), 'mf');
        return s.recs.length > 0 ? s : null;
      }),
    );
    console.log(`page ${p.index} recs before (v${before[p.index].recsVersion}): ${before[p.index].recs.slice(0, 10).join(',')}`);
  }

  // Wait for federated training: global version ≥ 3, every page joined ≥ 3 rounds and holds v ≥ 3.
  const t0 = Date.now();
  let lastLine = '';
  const states = await waitFor('≥ 3 aggregated rounds with every page at version ≥ 3 having joined ≥ 3 rounds', TRAINING_TIMEOUT_MS, async () => {
    const h = await health();
    const pages = await Promise.all(participants.map((p) => readState(p.page)));
    const ss = pages.map((s) => modelState(s, 'mf'));
    const line =
      `global v${h.version} round ${h.round} clients ${h.clients} | ` +
      pages.map((s, k) => `p${k} ${s.connection} v${ss[k].version ?? '-'} joined ${ss[k].roundsJoined} sent ${ss[k].bytesSent}B recs@v${ss[k].recsVersion ?? '-'}`).join(' | ');
    if (line !== lastLine) console.log(`t=${((Date.now() - t0) / 1000).toFixed(0)}s ${line}`);
    lastLine = line;
    const done =
      h.version >= TARGET_VERSION &&
      ss.every((s) => s.roundsJoined >= TARGET_ROUNDS_JOINED && (s.version ?? 0) >= TARGET_VERSION);
    return done ? ss : null;
  }, 2000);
  console.log(`training reached target after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const rounds = await getJson<RoundsDoc>(url, `${modelApiPath('mf')}/rounds`);
  const aggregated = rounds.rounds.filter((r) => r.outcome === 'aggregated');
  console.log(`rounds: ${rounds.rounds.map((r) => `${r.round}:${r.outcome}→${r.newVersion}`).join(' ')}`);
  assert.ok(aggregated.length >= 3, `only ${aggregated.length} aggregated rounds in ${modelApiPath('mf')}/rounds`);

  // Recommendations after training: recomputed with a newer model, and different somewhere.
  const afterStates: ModelPageState[] = [];
  for (const p of participants) {
    afterStates.push(
      await waitFor(`page ${p.index} recommendations recomputed on version ≥ ${TARGET_VERSION}`, 60_000, async () => {
        const s = modelState(await readState(p.page), 'mf');
        return (s.recsVersion ?? -1) >= TARGET_VERSION && s.recs.length > 0 ? s : null;
      }),
    );
  }
  let anyChanged = false;
  for (let k = 0; k < participants.length; k++) {
    const b = before[k];
    const a = afterStates[k];
    const changed = JSON.stringify(a.recs) !== JSON.stringify(b.recs);
    anyChanged ||= changed;
    console.log(`page ${k} recs after (v${a.recsVersion}): ${a.recs.slice(0, 10).join(',')} ${changed ? '(changed)' : '(same)'}`);
    assert.ok((a.recsVersion ?? -1) > (b.recsVersion ?? -1), `page ${k} recsVersion did not advance (${b.recsVersion} → ${a.recsVersion})`);
  }
  assert.ok(anyChanged, 'recommendations are identical before and after training on every page');

  await mkdir(ARTIFACTS, { recursive: true });
  const shot = path.join(ARTIFACTS, 'webapp-after-training.png');
  await participants[0].page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);

  // Privacy. What left each page in the run this test was written against (see
  // e2e/artifacts/traffic-page-K.json for the record of the latest run):
  //  - HTTP: GETs without bodies — the app's assets, /api/catalog, /api/models and
  //    /api/models/mf/weights/<version> for each version it trained on or displayed — and
  //    one POST /api/credentials `{}` (the coordinator issues the participant id);
  //  - socket.io text frames: `40/models/mf,{"token":…}` (connect with the credential), one
  //    `join` {protocolVersion, backend, eligible}, a few `eligibility` {eligible};
  //  - per round joined: `451-/models/mf,["update",{"_placeholder":true,"num":0}]` plus ONE binary
  //    attachment of 27,284 B = a small header + the clipped delta of the GLOBAL
  //    parameters as dense float32 (400 items × (16 + 1) × 4 B = 27,200 B: item
  //    embedding and item bias). Dense, but rows of untouched items are exactly zero,
  //    so the set of touched rows (positives mixed with sampled negatives) is visible.
  // The user's embedding, likes and ratings stay in IndexedDB; assertOnlyAllowedTrafficSent
  // checks every request and frame against an allow-list of fields, then searches what is
  // allowed for the liked ids in many encodings (e2e/harness/sent-traffic-allow-list.ts).
  for (const p of participants) {
    const payloads = p.traffic.texts();
    const sentFrames = p.traffic.frames.length;
    const binaryFrames = p.traffic.frames.filter((f) => typeof f.payload !== 'string').length;
    const posts = p.traffic.requests.filter((r) => r.method !== 'GET').length;
    console.log(
      `page ${p.index} sent ${p.traffic.requests.length} requests (${posts} with a body method), ${sentFrames} ws frames ` +
        `(${binaryFrames} binary), ${p.traffic.totalBytesSent()} payload bytes; page reports bytes-sent ${states[p.index].bytesSent}`,
    );
    await writeFile(path.join(ARTIFACTS, `traffic-page-${p.index}.json`), JSON.stringify(p.traffic.summary(), null, 1));
    await p.traffic.settle(); assertOnlyAllowedTrafficSent(p.traffic, { origin: url, liked: p.liked, page: `page ${p.index}` });
  }
});
