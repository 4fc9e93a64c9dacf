/**
 * The privacy check proves itself on a REAL page: one browser participant against a
 * real coordinator likes and rates items and trains a round; its captured traffic
 * passes the check (both layers). Then, in the same page, a compromised script sends
 * the liked ids the way a leak would, one encoding at a time, over the page's own
 * socket.io connection, a raw WebSocket to the coordinator, or fetch; for each
 * injection on its own (the others left out of the record), the check must fail.
 *
 * The init script below keeps a reference to every WebSocket the page opens (so the
 * "compromised page" can write on the app's own connection); it changes nothing else.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { PROTOCOL_VERSION } from '../shared/protocol/messages.ts';
import { modelApiPath } from '../shared/protocol/model-routes.ts';
import { assertOnlyAllowedTrafficSent, checkSentTraffic, type PrivacyCheckOptions } from './harness/assert-allowed-traffic.ts';
import { ensureBuilt } from './harness/build.ts';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { modelState, readState, waitFor } from './harness/page-state.ts';
import { captureTraffic, type CapturedFrame, type CapturedRequest, type CapturedSocket, type TrafficCapture, type TrafficRecord } from './harness/traffic-capture.ts';

const TRAINING_TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 240_000);
const KEEP_SOCKETS = `(() => {
  const Native = window.WebSocket;
  const opened = [];
  Object.defineProperty(window, '__flockSockets', { value: opened });
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      opened.push(this);
    }
  };
})()`;

let coordinator: RunningCoordinator | undefined;
let browser: Browser | undefined;
let context: BrowserContext | undefined;
let page: Page | undefined;
let consoleLines: string[] = [];

const diagnostics = () => `\ncoordinator log (tail):\n${coordinator?.logs.slice(-30).join('\n')}\npage console:\n${consoleLines.slice(-20).join('\n')}`;

before(async () => {
  await ensureBuilt();
  coordinator = await startCoordinator({
    // One participant may train a round on its own; one round, so the page is quiet while leaks are injected.
    extraArgs: ['--models', 'mf', '--min-clients', '1', '--min-per-round', '1', '--clients-per-round', '1', '--local-epochs', '1', '--max-rounds', '1'],
  });
  browser = await launchChromium();
});

after(async () => {
  await context?.close().catch(() => {});
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

/** What one injection produced in the capture: its requests, sockets and frames. */
interface Injected {
  readonly name: string;
  readonly requests: Set<CapturedRequest>;
  readonly sockets: Set<CapturedSocket>;
  readonly frames: Set<CapturedFrame>;
}

/** The capture as it stands, without what the given injections produced. */
function recordWithout(traffic: TrafficCapture, left: readonly Injected[]): TrafficRecord {
  const drop = <T>(items: readonly T[], pick: (i: Injected) => Set<T>) => items.filter((x) => !left.some((i) => pick(i).has(x)));
  return {
    requests: drop(traffic.requests, (i) => i.requests),
    sockets: drop(traffic.sockets, (i) => i.sockets),
    frames: drop(traffic.frames, (i) => i.frames),
    received: [...traffic.received],
    responses: [...traffic.responses],
    validators: [...traffic.validators],
    pending: traffic.pending,
  };
}

test('the privacy check passes a real page\'s traffic and fails each injected encoding of its liked items', { timeout: 480_000 }, async () => {
  const url = coordinator!.url;
  context = await browser!.newContext();
  await context.addInitScript({ content: KEEP_SOCKETS });
  page = await context.newPage();
  consoleLines = collectConsole(page);
  const traffic = captureTraffic(page);
  await page.goto(`${url}/?backend=wasm`);
  await page
    .waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 })
    .catch((e: Error) => assert.fail(`page never became ready: ${e.message}${diagnostics()}`));

  // Like six items (ids ≥ 10, so no liked id is also a weights version the page fetched) and rate the first 5.
  const shown = (await page.$$eval('[data-testid=catalog] [data-testid=catalog-item]', (els) => els.map((e) => Number((e as HTMLElement).dataset.itemId)))).sort((a, b) => a - b);
  const liked = shown.filter((id) => id >= 10).filter((_, j) => j % 3 === 1).slice(0, 6);
  assert.equal(liked.length, 6, `catalog shows too few items: ${shown.length}`);
  for (const item of liked) await page.locator(`[data-testid=catalog] [data-testid=catalog-item][data-item-id="${item}"] button[data-testid=like]`).click();
  await page.locator(`[data-testid=catalog] [data-testid=catalog-item][data-item-id="${liked[0]}"] select[data-testid=rate]`).selectOption('5');
  console.log(`liked ${liked.join(',')}, rated ${liked[0]} 5`);

  // Honest traffic: at least one update sent and acknowledged.
  await waitFor('the page to send an update that is acknowledged', TRAINING_TIMEOUT_MS, async () => {
    const s = modelState(await readState(page!), 'mf');
    return s.roundsJoined >= 1 && s.bytesSent > 0;
  }, 1000, diagnostics);
  await traffic.settle();
  const opts: PrivacyCheckOptions = { origin: url, liked, page: 'real page' };
  const honest = recordWithout(traffic, []);
  const binaryFrames = honest.frames.filter((f) => typeof f.payload !== 'string').length;
  const posts = honest.requests.filter((r) => r.method === 'POST').length;
  console.log(`honest: ${honest.requests.length} requests (${posts} POST), ${honest.sockets.length} sockets, ${honest.frames.length} frames (${binaryFrames} binary)`);
  assert.ok(binaryFrames >= 1, 'the honest traffic holds no update: the update path of the check is not exercised');
  assert.ok(honest.frames.some((f) => typeof f.payload === 'string' && f.payload.startsWith('40/models/mf,{"token":')), 'the honest traffic holds no CONNECT with a credential');
  assert.ok(posts >= 1, 'the honest traffic holds no credential request');
  const honestReport = checkSentTraffic(honest, opts);
  assert.deepEqual(honestReport.violations, [], 'honest traffic breaks the allow-list');
  assert.deepEqual(honestReport.findings, [], 'the liked ids were found in honest traffic');
  assertOnlyAllowedTrafficSent(honest, opts);
  const weightsVersions = honest.requests.map((r) => /\/weights\/(\d+)$/.exec(new URL(r.url).pathname)?.[1]).filter(Boolean).map(Number);
  assert.ok(liked.every((id) => !weightsVersions.includes(id)), 'a liked id is also a weights version the page fetched');

  // The compromised page: each injection is a script run in the page; `done` says when the capture holds all it sent.
  const ids = JSON.stringify(liked);
  const reversed = [...liked].reverse().join(',');
  const ratings = JSON.stringify(Object.fromEntries(liked.map((id, i) => [String(id), i === 0 ? 5 : 4])));
  const b64 = Buffer.from(liked.join(',')).toString('base64url');
  /** Runs `body` with `ws` bound to the app's own open socket.io WebSocket (waiting up to 10 s for one, e.g. after a reconnection). */
  const onOwnSocket = (body: string) => `new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const ws = window.__flockSockets.filter((s) => s.readyState === 1 && s.url.includes('/socket.io/')).pop();
      if (ws) { ${body}; resolve(true); }
      else if (Date.now() - t0 > 10000) reject(new Error('the page has no open socket.io connection'));
      else setTimeout(tick, 100);
    };
    tick();
  })`;
  const rawSocket = (frames: string[]) => `new Promise((resolve, reject) => {
    const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket');
    const timer = setTimeout(() => { ws.close(); reject(new Error('no engine.io open packet within 10 s')); }, 10000);
    ws.onclose = (e) => { clearTimeout(timer); reject(new Error('raw WebSocket closed before it opened: ' + e.code + ' ' + e.reason)); };
    ws.onmessage = (m) => {
      if (typeof m.data !== 'string' || m.data[0] !== '0') return;
      clearTimeout(timer);
      ws.onclose = null;
      for (const f of ${JSON.stringify(frames)}) ws.send(f);
      setTimeout(() => { ws.close(); resolve(true); }, 300);
    };
  })`;
  const textFrame = (needle: string) => (f: CapturedFrame) => typeof f.payload === 'string' && f.payload.includes(needle);
  const floatBytes = Buffer.from(new Float32Array(liked).buffer);
  const injections: {
    name: string;
    script: string;
    frames?: (f: CapturedFrame) => boolean;
    requests?: (r: CapturedRequest) => boolean;
    newSocket?: boolean;
    expect: { frames?: number; requests?: number };
    /** Whether the second layer (the liked-id search) should find it too. */
    searchFinds: boolean;
  }[] = [
    {
      name: 'a JSON array of strings, in an eligibility event on the page\'s own socket.io connection',
      script: onOwnSocket(`ws.send('42/models/mf,' + JSON.stringify(['eligibility', { eligible: true, items: ${ids}.map(String) }]))`),
      frames: textFrame('"items":["'),
      expect: { frames: 1 },
      searchFinds: true,
    },
    {
      name: 'a comma string in reverse order, as the invite of a fetch POST /api/credentials',
      script: `fetch('/api/credentials', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ invite: ${JSON.stringify(reversed)} }) }).then((r) => r.status)`,
      requests: (r) => r.method === 'POST' && (r.body?.toString('utf8').includes(reversed) ?? false),
      expect: { requests: 1 },
      searchFinds: true,
    },
    {
      name: 'base64, as the payload of a JWS-shaped token in a CONNECT on a raw WebSocket',
      script: rawSocket([`40/models/mf,${JSON.stringify({ token: `eyJhbGciOiJFUzI1NiJ9.${b64}.c2lnbmF0dXJl` })}`]),
      newSocket: true,
      expect: { frames: 1 },
      searchFinds: true,
    },
    {
      name: 'a float32 binary frame, as an update attachment on the page\'s own socket.io connection',
      script: onOwnSocket(`ws.send('451-/models/mf,["update",{"_placeholder":true,"num":0}]'); ws.send(new Float32Array(${ids}).buffer)`),
      frames: (f) => (typeof f.payload !== 'string' && f.payload.equals(floatBytes)) || f.payload === '451-/models/mf,["update",{"_placeholder":true,"num":0}]',
      expect: { frames: 2 },
      searchFinds: true,
    },
    {
      name: 'an item→rating map, in a join event on a raw WebSocket',
      script: rawSocket([`42/models/mf,${JSON.stringify(['join', { protocolVersion: PROTOCOL_VERSION, backend: 'wasm', eligible: true, ratings: JSON.parse(ratings) }])}`]),
      newSocket: true,
      expect: { frames: 1 },
      searchFinds: true,
    },
    {
      name: 'one liked id per GET of /api/models/mf/weights/<id> (each URL alone has an allowed path)',
      script: `Promise.all(${ids}.map((id) => fetch('${modelApiPath('mf')}/weights/' + id).then((r) => r.status)))`,
      requests: (r) => r.method === 'GET' && liked.some((id) => r.url.endsWith(`/weights/${id}`)),
      expect: { requests: liked.length },
      searchFinds: false,
    },
    {
      name: 'the liked ids in a custom header of a fetch GET /api/catalog',
      script: `fetch('/api/catalog', { headers: { 'x-flock-items': ${JSON.stringify(liked.join(' '))} } }).then((r) => r.status)`,
      requests: (r) => 'x-flock-items' in r.headers,
      expect: { requests: 1 },
      searchFinds: true,
    },
  ];

  const done: (Injected & { searchFinds: boolean })[] = [];
  for (const inj of injections) {
    const from = { requests: traffic.requests.length, sockets: traffic.sockets.length, frames: traffic.frames.length };
    const result = await page.evaluate(inj.script).catch((e: Error) => assert.fail(`injection '${inj.name}' failed in the page: ${e.message}`));
    console.log(`injected ${inj.name} (page says ${JSON.stringify(result)})`);
    const produced = await waitFor(`the capture to hold injection '${inj.name}'`, 20_000, async () => {
      const sockets = inj.newSocket ? traffic.sockets.slice(from.sockets) : [];
      const socketIds = new Set(sockets.map((s) => s.id));
      const frames = traffic.frames.slice(from.frames).filter((f) => (inj.frames?.(f) ?? false) || socketIds.has(f.socket));
      const requests = traffic.requests.slice(from.requests).filter((r) => inj.requests?.(r) ?? false);
      const complete = frames.length >= (inj.expect.frames ?? 0) && requests.length >= (inj.expect.requests ?? 0);
      return complete ? { name: inj.name, searchFinds: inj.searchFinds, frames: new Set(frames), requests: new Set(requests), sockets: new Set(sockets) } : null;
    }, 200, diagnostics);
    await traffic.settle();
    console.log(`captured ${inj.name}: ${produced.requests.size} requests, ${produced.sockets.size} sockets, ${produced.frames.size} frames; ${traffic.pending} reads pending`);
    done.push(produced);
  }
  // Whatever honest traffic happened meanwhile (pings, reactions to the refused messages) still passes on its own.
  assertOnlyAllowedTrafficSent(recordWithout(traffic, done), opts);

  for (const inj of done) {
    const record = recordWithout(traffic, done.filter((o) => o !== inj));
    let message = '';
    assert.throws(
      () => assertOnlyAllowedTrafficSent(record, opts),
      (err: Error) => {
        message = err.message;
        return err.name === 'AssertionError';
      },
      `the check passed traffic holding ${inj.name}`,
    );
    // Each layer on its own: the allow-list refuses every injection; the liked-id search finds those in encodings it knows.
    const report = checkSentTraffic(record, opts);
    assert.ok(report.violations.length > 0, `the allow-list passed ${inj.name}`);
    if (inj.searchFinds) assert.ok(report.findings.length > 0, `the liked-id search missed ${inj.name}`);
    console.log(`\n== ${inj.name}\n${message}`);
  }
});
