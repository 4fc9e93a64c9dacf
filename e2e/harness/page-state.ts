import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

/** One model's part of the page: its status rows and its recommendation panel. */
export interface ModelPageState {
  version: number | null;
  roundsJoined: number;
  bytesSent: number;
  recsVersion: number | null;
  recs: number[];
  recsHeading: string;
}

/** What the web app's status panel and recommendation panels show (the DOM contract in client/). */
export interface PageState {
  backend: string;
  connection: string;
  /** By model kind, for every model the page shows. */
  models: Record<string, ModelPageState>;
}

/**
 * Reads the status panel and the recommendations. Written as a string: tsx (esbuild
 * keepNames) wraps named inner functions in a `__name` helper that does not exist in
 * the page, so functions with named locals cannot be passed to page.evaluate.
 */
const READ_STATE_JS = `(() => {
  const text = (root, id) => root.querySelector('[data-testid="' + id + '"]')?.textContent?.trim() ?? '';
  const int = (s) => (s !== undefined && /^-?\\d+$/.test(s.trim()) ? Number(s) : null);
  const models = {};
  for (const panel of document.querySelectorAll('[data-testid=recs-panels] [data-model]')) {
    const kind = panel.dataset.model;
    models[kind] = {
      version: int(text(document, 'model-version-' + kind)),
      roundsJoined: int(text(document, 'rounds-joined-' + kind)) ?? 0,
      bytesSent: int(document.querySelector('[data-testid="bytes-sent-' + kind + '"]')?.dataset.bytes) ?? 0,
      recsVersion: int(panel.dataset.recsVersion),
      recsHeading: text(panel, 'recs-heading'),
      recs: Array.from(panel.querySelectorAll('[data-testid=recommendations] [data-testid=rec-item]')).map((e) => Number(e.dataset.itemId)),
    };
  }
  return { backend: text(document, 'backend'), connection: text(document, 'connection'), models };
})()`;

export async function readState(page: Page): Promise<PageState> {
  return (await page.evaluate(READ_STATE_JS)) as PageState;
}

/** One model's part of a page's state; fails clearly if the page does not show that model. */
export function modelState(s: PageState, kind: string): ModelPageState {
  const m = s.models[kind];
  if (!m) assert.fail(`the page shows no '${kind}' model (it shows: ${Object.keys(s.models).join(', ') || 'none'})`);
  return m;
}

/** Polls `check` every `everyMs` until it returns a value; fails with `what` and diagnostics at the deadline. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | null | undefined | false>,
  everyMs = 1000,
  diagnostics: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${diagnostics()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** How a tab takes part for its browser profile (client/app/tab-election.ts): it trains, or it follows the tab that does. */
export interface TabRoleState {
  /** 'trainer', 'follower', or '' before the page decided. */
  role: string;
  /** 'web-locks', 'broadcast-channel' or 'none'. */
  election: string;
  /** What the page tells the person about it ('' when it shows nothing). */
  note: string;
}

const READ_TAB_ROLE_JS = `(() => {
  const note = document.querySelector('[data-testid="tab-role"]');
  return {
    role: document.body.dataset.tabRole ?? '',
    election: document.body.dataset.election ?? '',
    note: note && !note.hidden ? (note.textContent ?? '').trim() : '',
  };
})()`;

export async function readTabRole(page: Page): Promise<TabRoleState> {
  return (await page.evaluate(READ_TAB_ROLE_JS)) as TabRoleState;
}

/**
 * Every figure of the status panel by test id (version, rounds joined, last loss, bytes
 * sent, connection, …), as shown; a byte count (shown formatted, "133 KB") as the exact
 * number of bytes behind it (its data-bytes).
 */
const READ_STATUS_TEXTS_JS = `(() => {
  const out = {};
  for (const dd of document.querySelectorAll('[data-testid=status] dd[data-testid]')) out[dd.dataset.testid] = dd.dataset.bytes ?? (dd.textContent ?? '').trim();
  return out;
})()`;

export async function readStatusTexts(page: Page): Promise<Record<string, string>> {
  return (await page.evaluate(READ_STATUS_TEXTS_JS)) as Record<string, string>;
}

/** Item ids the catalog marks as liked or rated. */
export async function readLikedItems(page: Page): Promise<number[]> {
  return (await page.evaluate(`Array.from(document.querySelectorAll('[data-testid=catalog-item][data-liked=true]')).map((e) => Number(e.dataset.itemId))`)) as number[];
}

/** One model's block of the privacy panel (client/app/privacy-panel.ts), as shown. */
export interface ModelPrivacyPageState {
  /** loading | off | dp | exhausted | error */
  state: string;
  /** The exact spent ε (data-epsilon, String(number) of the coordinator's value); null unless DP is on. */
  epsilon: string | null;
  /** The ε figure as displayed (2 decimals). */
  epsilonText: string;
  delta: string | null;
  rounds: number | null;
  /** The version that ε covers. */
  version: number | null;
  sentence: string;
  exhaustedNote: string;
  details: string;
}

const READ_PRIVACY_JS = `(() => {
  const out = {};
  for (const block of document.querySelectorAll('[data-testid=privacy-models] [data-model]')) {
    const text = (id) => (block.querySelector('[data-testid="' + id + '"]')?.textContent ?? '').trim();
    const d = block.dataset;
    out[d.model] = {
      state: d.state ?? '',
      epsilon: d.epsilon ?? null,
      epsilonText: text('privacy-epsilon'),
      delta: d.delta ?? null,
      rounds: d.rounds === undefined ? null : Number(d.rounds),
      version: d.version === undefined ? null : Number(d.version),
      sentence: text('privacy-sentence'),
      exhaustedNote: text('privacy-exhausted'),
      details: text('privacy-details'),
    };
  }
  return out;
})()`;

/** The privacy panel by model kind. */
export async function readPrivacy(page: Page): Promise<Record<string, ModelPrivacyPageState>> {
  return (await page.evaluate(READ_PRIVACY_JS)) as Record<string, ModelPrivacyPageState>;
}
