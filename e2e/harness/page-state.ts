import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

/** What the web app's status panel and recommendations show (the DOM contract in client/). */
export interface PageState {
  backend: string;
  connection: string;
  modelVersion: number | null;
  roundsJoined: number;
  bytesSent: number;
  recsVersion: number | null;
  recs: number[];
  recsHeading: string;
}

/**
 * Reads the status panel and the recommendations. Written as a string: tsx (esbuild
 * keepNames) wraps named inner functions in a `__name` helper that does not exist in
 * the page, so functions with named locals cannot be passed to page.evaluate.
 */
const READ_STATE_JS = `(() => {
  const text = (id) => document.querySelector('[data-testid=' + id + ']')?.textContent?.trim() ?? '';
  const int = (s) => (s !== undefined && /^-?\\d+$/.test(s.trim()) ? Number(s) : null);
  return {
    backend: text('backend'),
    connection: text('connection'),
    modelVersion: int(text('model-version')),
    roundsJoined: int(text('rounds-joined')) ?? 0,
    bytesSent: int(text('bytes-sent')) ?? 0,
    recsVersion: int(document.body.dataset.recsVersion),
    recsHeading: text('recs-heading'),
    recs: Array.from(document.querySelectorAll('[data-testid=recommendations] [data-testid=rec-item]')).map((e) => Number(e.dataset.itemId)),
  };
})()`;

export async function readState(page: Page): Promise<PageState> {
  return (await page.evaluate(READ_STATE_JS)) as PageState;
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
