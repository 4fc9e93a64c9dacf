/**
 * Differential privacy end to end: a coordinator serving both models with DP-FedAvg
 * (noise, Poisson sampling, an RDP accountant and a small round budget), three browser
 * contexts on WebGPU each liking a few items, released rounds until the budget is spent,
 * and every page's privacy panel showing, for each model, exactly the ε the coordinator's
 * API reports for the same version — round after round while training, then the final ε
 * with "budget spent". A follower tab shows the same figures (mirrored, not fetched), the
 * explanation page loads under the coordinator's CSP, and the traffic privacy check passes.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ModelInfoResponseSchema, ModelsResponseSchema, type ModelPrivacy } from '../shared/protocol/messages.ts';
import { modelApiPath } from '../shared/protocol/model-routes.ts';
import type { ModelKind } from '../shared/model/model-registry.ts';
import { assertOnlyAllowedTrafficSent } from './harness/assert-allowed-traffic.ts';
import { ensureBuilt } from './harness/build.ts';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { getJson, REPO_ROOT, SMALL_MODELS_ARGS, startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { readPrivacy, readState, readTabRole, waitFor, type ModelPrivacyPageState } from './harness/page-state.ts';
import { captureTraffic, type TrafficCapture, type TrafficRecord } from './harness/traffic-capture.ts';

const MODELS = ['mf', 'sasrec'] as const satisfies readonly ModelKind[];
/** Released rounds per model before the budget is spent: the test runs them all. */
const ROUND_BUDGET = 3;
const DELTA = 1e-5;
const DP_ARGS = [
  '--dp-noise', '1.0',
  '--delta', String(DELTA),
  '--dp-population', '3',
  '--dp-rounds', String(ROUND_BUDGET),
  // q = --clients-per-round (harness default 1): every eligible page is in every round; m = q × 3.
];
const TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 360_000);

let coordinator: RunningCoordinator | undefined;
let browser: Browser | undefined;
const pages: { context: BrowserContext; page: Page; console: string[]; traffic: TrafficCapture }[] = [];

const diagnostics = () =>
  `\ncoordinator log (tail):\n${coordinator?.logs.slice(-30).join('\n')}\n` + pages.map((p, k) => `page ${k} console:\n${p.console.slice(-15).join('\n')}`).join('\n');

/** Every (version → privacy) the coordinator's API reported during the run, per model. */
const apiSeen = new Map<ModelKind, Map<number, ModelPrivacy>>(MODELS.map((m) => [m, new Map()]));

async function apiPrivacy(kind: ModelKind): Promise<ModelPrivacy> {
  const info = ModelInfoResponseSchema.parse(await getJson(coordinator!.url, modelApiPath(kind)));
  assert.ok(info.privacy, `${kind}: the coordinator runs DP, yet /api/models/${kind} says privacy: null`);
  const seen = apiSeen.get(kind)!.get(info.privacy.version);
  if (seen) assert.equal(info.privacy.epsilon, seen.epsilon, `${kind}: the API changed its ε for version ${info.privacy.version}`);
  apiSeen.get(kind)!.set(info.privacy.version, info.privacy);
  return info.privacy;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** What a page's block must show for the API's privacy of the same version. */
function assertShows(where: string, shown: ModelPrivacyPageState, api: ModelPrivacy): void {
  assert.equal(shown.version, api.version, `${where}: version`);
  assert.equal(shown.epsilon, String(api.epsilon), `${where}: data-epsilon is the API's exact ε`);
  assert.equal(Number(shown.epsilon), api.epsilon);
  assert.equal(shown.epsilonText, api.epsilon.toFixed(2), `${where}: ε shown with 2 decimals`);
  assert.equal(shown.delta, String(api.delta));
  assert.equal(shown.rounds, api.rounds);
  assert.equal(shown.state, api.exhausted ? 'exhausted' : 'dp', `${where}: state`);
  assert.ok(shown.sentence.includes(`(ε, δ)-differentially private with ε = ${api.epsilon.toFixed(2)} and δ = 1.0 × 10⁻⁵`), `${where}: sentence: ${shown.sentence}`);
  if (api.rounds > 0) assert.ok(shown.sentence.includes(`after ${plural(api.rounds, 'round', 'rounds')}`), `${where}: sentence: ${shown.sentence}`);
  if (api.exhausted) assert.equal(shown.exhaustedNote, 'Privacy budget spent: training has stopped; recommendations use the last model.');
  else assert.equal(shown.exhaustedNote, '');
}

before(async () => {
  await ensureBuilt();
  coordinator = await startCoordinator({ extraArgs: [...SMALL_MODELS_ARGS, ...DP_ARGS] });
  browser = await launchChromium();
});

after(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

test('DP rounds: every page shows, per model, the same ε as the coordinator for the same version, up to the spent budget', { timeout: 600_000 }, async () => {
  const url = coordinator!.url;
  const served = ModelsResponseSchema.parse(await getJson(url, '/api/models'));
  assert.deepEqual(served.models.map((m) => m.model.kind), [...MODELS]);
  for (const m of MODELS) {
    const p = await apiPrivacy(m);
    assert.equal(p.mechanism, 'dp-fedavg');
    assert.equal(p.delta, DELTA);
    assert.equal(p.roundBudget, ROUND_BUDGET);
    assert.equal(p.exhausted, false, `${m}: a fresh coordinator has budget left`);
  }

  for (let k = 0; k < 3; k++) {
    const context = await browser!.newContext();
    const page = await context.newPage();
    pages.push({ context, page, console: collectConsole(page, `p${k} `), traffic: captureTraffic(page) });
    await page.goto(`${url}/?backend=webgpu`);
  }
  const likedBy = (k: number) => [0, 1, 2, 3, 4].map((j) => 10 * k + j);
  for (const [k, { page }] of pages.entries()) {
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 });
    assert.equal((await readState(page)).backend, 'webgpu', `page ${k} runs on WebGPU`);
    // Before any round: the panel already states the (empty) guarantee of each model.
    const shown = await waitFor(`page ${k}: privacy panel answered`, 60_000, async () => {
      const s = await readPrivacy(page);
      return MODELS.every((m) => s[m] && s[m].state !== 'loading') ? s : null;
    }, 500, diagnostics);
    for (const m of MODELS) assert.ok(['dp', 'exhausted'].includes(shown[m].state), `page ${k} ${m}: ${shown[m].state}: ${shown[m].sentence}`);
    for (const item of likedBy(k)) {
      await page.locator(`[data-testid=catalog-item][data-item-id="${item}"] button[data-testid=like]`).click();
    }
  }

  // Rounds until both budgets are spent; meanwhile record what the API and every page show.
  const pageSeen: { page: number; model: ModelKind; shown: ModelPrivacyPageState }[] = [];
  await waitFor(`both models release ${ROUND_BUDGET} DP rounds and stop (budget spent)`, TIMEOUT_MS, async () => {
    const api = await Promise.all(MODELS.map((m) => apiPrivacy(m)));
    for (const [k, { page }] of pages.entries()) {
      const s = await readPrivacy(page);
      for (const m of MODELS) if (s[m]?.version !== null && s[m]?.version !== undefined) pageSeen.push({ page: k, model: m, shown: s[m] });
    }
    return api.every((p) => p.exhausted && p.rounds === ROUND_BUDGET);
  }, 1000, diagnostics);

  // The panel followed the rounds: each page showed at least two DP versions of each model
  // while training, and whatever it showed was the API's ε for that version, exactly.
  let compared = 0;
  for (const { page, model, shown } of pageSeen) {
    const api = apiSeen.get(model)!.get(shown.version!);
    if (!api) continue;
    assertShows(`page ${page} ${model} v${shown.version} (during training)`, shown, api);
    compared++;
  }
  for (const m of MODELS) {
    const byVersion = [...apiSeen.get(m)!.values()].sort((a, b) => a.version - b.version);
    console.log(`API ${m}: ${byVersion.map((p) => `v${p.version} ε=${p.epsilon.toFixed(4)}${p.exhausted ? ' (spent)' : ''}`).join(', ')}`);
    for (let i = 1; i < byVersion.length; i++) assert.ok(byVersion[i].epsilon > byVersion[i - 1].epsilon, `${m}: ε grows with every released round`);
  }
  for (const [k] of pages.entries()) {
    for (const m of MODELS) {
      const versions = new Set(pageSeen.filter((s) => s.page === k && s.model === m).map((s) => s.shown.version));
      assert.ok(versions.size >= 2, `page ${k} ${m}: the panel showed versions ${[...versions].join(', ')}: it should follow the rounds`);
      console.log(`page ${k} ${m}: the panel showed versions ${[...versions].sort().join(', ')} while training`);
    }
  }
  console.log(`${compared} panel readings during training compared with the API's ε for the same version`);

  // The final guarantee: every page shows the API's ε for the last version, and budget spent.
  const final = new Map<ModelKind, ModelPrivacy>();
  for (const m of MODELS) {
    const p = await apiPrivacy(m);
    assert.ok(p.epsilon > 0, `${m}: ε > 0 after ${p.rounds} rounds`);
    assert.ok(p.epsilon <= p.epsilonBudget * (1 + 1e-9), `${m}: ε ${p.epsilon} within the budget ${p.epsilonBudget}`);
    assert.ok(p.version >= 2, `${m}: at least 2 versions released (v${p.version})`);
    final.set(m, p);
  }
  for (const [k, { page }] of pages.entries()) {
    const shown = await waitFor(`page ${k}: privacy panel at the final versions`, 60_000, async () => {
      const s = await readPrivacy(page);
      return MODELS.every((m) => s[m]?.version === final.get(m)!.version) ? s : null;
    }, 1000, diagnostics);
    for (const m of MODELS) {
      assertShows(`page ${k} ${m} (final)`, shown[m], final.get(m)!);
      console.log(`page ${k} ${m}: shows ε = ${shown[m].epsilonText} (data-epsilon ${shown[m].epsilon}); API v${final.get(m)!.version}: ε = ${final.get(m)!.epsilon}, rounds ${final.get(m)!.rounds}`);
    }
  }

  // Training has ended for good: each model says so, and the page no longer says it is "taking part in training".
  for (const [k, { page }] of pages.entries()) {
    await waitFor(`page ${k}: both models show the privacy budget spent`, 30_000, async () => {
      const states = await Promise.all(MODELS.map((m) => page.locator(`[data-testid=model-state-${m}]`).getAttribute('data-state')));
      return states.every((s) => s === 'privacy-spent');
    }, 500, diagnostics);
    const participation = await page.locator('[data-testid=participation]').innerText();
    assert.match(participation, /privacy budget is spent/, `page ${k}: the participation line says training ended, not "${participation}"`);
  }

  const artifacts = path.join(REPO_ROOT, 'e2e', 'artifacts');
  await mkdir(artifacts, { recursive: true });
  await pages[0].page.screenshot({ path: path.join(artifacts, 'webapp-privacy-panel.png'), fullPage: true });

  // A second tab of page 0's browser follows the first: it shows the mirrored figures, fetched by nobody else.
  const follower = await pages[0].context.newPage();
  const followerConsole = collectConsole(follower, 'follower ');
  const followerTraffic = captureTraffic(follower);
  await follower.goto(`${url}/?backend=webgpu`);
  await follower.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 });
  assert.equal((await readTabRole(follower)).role, 'follower');
  const mirrored = await waitFor('the follower tab shows the trainer tab\'s privacy figures', 60_000, async () => {
    const s = await readPrivacy(follower);
    return MODELS.every((m) => s[m]?.version === final.get(m)!.version) ? s : null;
  }, 500, () => followerConsole.join('\n'));
  for (const m of MODELS) assertShows(`follower tab ${m}`, mirrored[m], final.get(m)!);
  await followerTraffic.settle();
  assert.ok(!followerTraffic.requests.some((r) => /\/api\/models\/\w+$/.test(new URL(r.url).pathname)), 'the follower tab mirrors the privacy figures, it does not fetch them');
  // The browser's HTTP cache is the profile's: the follower may revalidate with a validator the coordinator sent to the trainer tab.
  const followerRecord: TrafficRecord = {
    requests: [...followerTraffic.requests],
    sockets: [...followerTraffic.sockets],
    frames: [...followerTraffic.frames],
    received: [...followerTraffic.received],
    responses: [...followerTraffic.responses],
    validators: [...pages[0].traffic.validators, ...followerTraffic.validators],
    pending: followerTraffic.pending,
  };
  assertOnlyAllowedTrafficSent(followerRecord, { origin: url, liked: likedBy(0), page: 'follower tab', expectSocket: false });

  // The explanation page the panel links to opens, styled, under the coordinator's CSP.
  let explainerConsole: string[] = [];
  pages[0].context.once('page', (p) => (explainerConsole = collectConsole(p, 'explainer ')));
  const [explainer] = await Promise.all([pages[0].context.waitForEvent('page'), pages[0].page.click('[data-testid=privacy-link]')]);
  await explainer.waitForLoadState('load');
  assert.equal(new URL(explainer.url()).pathname, '/privacy.html');
  const explained = (await explainer.locator('[data-testid=privacy-explainer]').textContent()) ?? '';
  for (const words of ['What ε and δ mean', 'What is protected, and what is not', 'coordinator', 'Secure aggregation', 'Clipping', 'Noise', 'Sampling', 'How ε grows with rounds']) {
    assert.ok(explained.includes(words), `the explanation page says '${words}'`);
  }
  assert.equal(await explainer.evaluate(`getComputedStyle(document.querySelector('.explain')).maxWidth`), '736px', 'its stylesheet applied');
  assert.deepEqual(explainerConsole.filter((l) => /Content Security Policy|Refused/i.test(l)), [], 'no CSP violation');

  // What left each training page is still only what the protocol allows.
  for (const [k, p] of pages.entries()) {
    await p.traffic.settle();
    assertOnlyAllowedTrafficSent(p.traffic, { origin: url, liked: likedBy(k), page: `page ${k}` });
  }
});
