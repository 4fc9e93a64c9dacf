/**
 * A person with a single like, beside two people with several: the embedding model
 * can learn from one like, the sequence model needs two interactions (a pair to
 * predict). The coordinator must select only participants with enough data, so the
 * single-like person never holds up a sequence-model round. The deadline is set far
 * beyond the test's patience (--round-timeout 600000): a round that waited for its
 * deadline would stall the test instead of passing slowly.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { HealthResponseSchema, RoundsResponseSchema, type RoundRecord } from '../shared/protocol/messages.ts';
import { modelApiPath } from '../shared/protocol/model-routes.ts';
import { ensureBuilt } from './harness/build.ts';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { getJson, startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { modelState, readState, waitFor } from './harness/page-state.ts';

const MODELS = ['mf', 'sasrec'] as const;
const ROUND_TIMEOUT_MS = 600_000;
/** "Well below the deadline": a round that closed on its own, not one that waited it out. */
const MAX_ROUND_MS = ROUND_TIMEOUT_MS / 5;
const TARGET_VERSIONS = 2;
const TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 300_000);

let coordinator: RunningCoordinator | undefined;
let browser: Browser | undefined;
const people: { label: string; context: BrowserContext; page: Page; console: string[]; sequenceRoundStarts: number }[] = [];

const diagnostics = () =>
  `\ncoordinator log (tail):\n${coordinator?.logs.slice(-30).join('\n')}\n` + people.map((p) => `${p.label} console:\n${p.console.slice(-15).join('\n')}`).join('\n');

before(async () => {
  await ensureBuilt();
  coordinator = await startCoordinator({
    extraArgs: [
      '--models', MODELS.join(','),
      '--dim', '16', '--max-len', '10', '--blocks', '1', '--heads', '2', '--local-epochs', '1',
      // Two people have enough data for the sequence model: rounds must be able to run with two.
      '--min-clients', '2',
      '--round-timeout', String(ROUND_TIMEOUT_MS),
    ],
  });
  browser = await launchChromium();
});

after(async () => {
  for (const p of people) await p.context.close().catch(() => {});
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

async function like(page: Page, items: readonly number[]): Promise<void> {
  for (const item of items) await page.locator(`[data-testid=catalog-item][data-item-id="${item}"] button[data-testid=like]`).click();
}

const rounds = async (model: (typeof MODELS)[number]): Promise<RoundRecord[]> =>
  RoundsResponseSchema.parse(await getJson(coordinator!.url, `${modelApiPath(model)}/rounds`)).rounds;

test('a person with a single like never holds up a round: both models advance, no round waits for its deadline, the sequence model never selects them', { timeout: 600_000 }, async () => {
  const url = coordinator!.url;
  const likes: Record<string, number[]> = { single: [7], several1: [20, 21, 22, 23, 24], several2: [30, 31, 32, 33] };
  for (const label of Object.keys(likes)) {
    const context = await browser!.newContext();
    const page = await context.newPage();
    const person = { label, context, page, console: collectConsole(page, `${label} `), sequenceRoundStarts: 0 };
    // Every round:start the page receives on the sequence model's namespace (socket.io frame "42/models/sasrec,[…]").
    page.on('websocket', (ws) =>
      ws.on('framereceived', (f) => {
        if (typeof f.payload === 'string' && f.payload.startsWith('42/models/sasrec,') && f.payload.includes('"round:start"')) person.sequenceRoundStarts++;
      }),
    );
    people.push(person);
    await page.goto(`${url}/?backend=webgpu`);
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 });
    await like(page, likes[label]);
  }
  const [single, ...several] = people;

  const health = async () => HealthResponseSchema.parse(await getJson(url, '/api/health')).models;
  const v0 = await health();
  await waitFor(`both global versions advance by ≥ ${TARGET_VERSIONS}, the single-like person joined an embedding-model round`, TIMEOUT_MS, async () => {
    const h = await health();
    const s = await readState(single.page);
    return MODELS.every((m) => h[m].version >= v0[m].version + TARGET_VERSIONS) && modelState(s, 'mf').roundsJoined >= 1;
  }, 2000, diagnostics);

  for (const m of MODELS) {
    const closed = await rounds(m);
    assert.ok(closed.filter((r) => r.outcome === 'aggregated').length >= TARGET_VERSIONS, `${m}: ≥ ${TARGET_VERSIONS} aggregated rounds`);
    for (const r of closed) {
      const took = r.closedAt - r.startedAt;
      assert.ok(took < MAX_ROUND_MS, `${m} round ${r.round} took ${took} ms: it waited for its deadline (${ROUND_TIMEOUT_MS} ms)\n${JSON.stringify(r)}`);
      assert.notEqual(r.closedBy, 'deadline', `${m} round ${r.round} closed by its deadline`);
    }
    if (m === 'sasrec') {
      for (const r of closed) assert.ok(r.selected <= several.length, `sasrec round ${r.round} selected ${r.selected} participants, only ${several.length} have two interactions`);
    }
  }

  // The single-like person was never selected for the sequence model, and never sent it anything.
  assert.equal(single.sequenceRoundStarts, 0, 'the single-like person received a sequence-model round:start');
  const s = await readState(single.page);
  assert.equal(modelState(s, 'sasrec').roundsJoined, 0);
  assert.equal(modelState(s, 'sasrec').bytesSent, 0);
  for (const p of several) {
    assert.ok(p.sequenceRoundStarts >= 1, `${p.label} was selected for sequence-model rounds (the capture works)`);
    assert.ok(modelState(await readState(p.page), 'sasrec').roundsJoined >= 1, `${p.label} joined a sequence-model round`);
  }
  // And the coordinator never counted them as eligible for it.
  const opened = coordinator!.logs
    .filter((l) => l.includes('"msg":"round opened"') && l.includes('"model":"sasrec"'))
    .map((l) => JSON.parse(l) as { eligible?: number; selected?: number });
  assert.ok(opened.length >= TARGET_VERSIONS, 'the coordinator logged the sequence-model rounds it opened');
  for (const o of opened) assert.ok((o.eligible ?? 0) <= several.length, `a sequence-model round counted ${o.eligible} eligible participants`);
});
