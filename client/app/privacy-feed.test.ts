import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelPrivacy } from '../../shared/protocol/messages.ts';
import { PrivacyFeed } from './privacy-feed.ts';
import type { PrivacyState } from './privacy-text.ts';

const privacyAt = (version: number): ModelPrivacy => ({
  mechanism: 'dp-fedavg', epsilon: 0.1 * version, delta: 1e-5, epsilonBudget: 4, rounds: version, roundBudget: 50,
  noiseMultiplier: 1, samplingRate: 0.5, population: 4, clipNorm: 1, adaptiveClipping: false, exhausted: false, version,
});
const info = (version: number, privacy: unknown = privacyAt(version)) => ({
  protocolVersion: 1, version, model: { kind: 'mf', numItems: 10, dim: 4 }, params: [],
  round: { localEpochs: 1, batchSize: 32, learningRate: 0.05, negatives: 4, l2: 0, clipNorm: 1, seed: 0 }, privacy,
});

/** A fetch answering from a queue of bodies (or statuses), each released when the test says so. */
function scriptedFetch() {
  const calls: string[] = [];
  const waiting: ((r: Response) => void)[] = [];
  const fetchFn = ((url: string) => {
    calls.push(url);
    return new Promise<Response>((resolve) => waiting.push(resolve));
  }) as unknown as typeof fetch;
  const answer = async (body: unknown, status = 200) => {
    while (waiting.length === 0) await new Promise((r) => setTimeout(r, 1));
    waiting.shift()!(new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }));
    await new Promise((r) => setTimeout(r, 5));
  };
  return { fetchFn, calls, answer, waiting };
}

test('fetches /api/models/:kind, one request at a time, and a refresh asked meanwhile runs once after it', async () => {
  const f = scriptedFetch();
  const seen: PrivacyState[] = [];
  const feed = new PrivacyFeed({ server: 'http://x', kind: 'mf', fetch: f.fetchFn, onChange: (s) => seen.push(s) });
  assert.deepEqual(feed.state, { status: 'loading' });
  feed.refresh();
  feed.refresh();
  feed.refresh();
  await f.answer(info(1));
  await f.answer(info(2));
  assert.deepEqual(f.calls, ['http://x/api/models/mf', 'http://x/api/models/mf'], 'three refreshes during one request: one more request, not three');
  assert.deepEqual(seen, [{ status: 'ok', privacy: privacyAt(1) }, { status: 'ok', privacy: privacyAt(2) }]);
  feed.stop();
});

test('a bad answer is an error state without a number; the next good answer replaces it', async () => {
  const f = scriptedFetch();
  const feed = new PrivacyFeed({ server: 'http://x', kind: 'mf', fetch: f.fetchFn, onChange: () => {}, retryMs: 60_000 });
  feed.refresh();
  await f.answer(info(3, { ...privacyAt(3), epsilon: 'lots' }));
  assert.equal(feed.state.status, 'error');
  assert.match((feed.state as { message: string }).message, /malformed/);
  feed.refresh();
  await f.answer({ error: 'x' }, 503);
  assert.deepEqual(feed.state, { status: 'error', message: 'the coordinator answered HTTP 503' });
  feed.refresh();
  await f.answer(info(3, null));
  assert.deepEqual(feed.state, { status: 'ok', privacy: null });
  feed.stop();
});

test('after a failure it retries on its own', async () => {
  const f = scriptedFetch();
  const feed = new PrivacyFeed({ server: 'http://x', kind: 'mf', fetch: f.fetchFn, onChange: () => {}, retryMs: 10 });
  feed.refresh();
  await f.answer({}, 500);
  assert.equal(feed.state.status, 'error');
  await f.answer(info(4));
  assert.deepEqual(feed.state, { status: 'ok', privacy: privacyAt(4) });
  assert.equal(f.calls.length, 2);
  feed.stop();
});

test('starts from the state carried from the tab that trained before', () => {
  const carried: PrivacyState = { status: 'ok', privacy: privacyAt(7) };
  const feed = new PrivacyFeed({ server: 'http://x', kind: 'mf', initial: carried, fetch: scriptedFetch().fetchFn, onChange: () => {} });
  assert.deepEqual(feed.state, carried);
});
