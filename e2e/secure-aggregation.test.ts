/**
 * Secure aggregation end to end: a coordinator with `--secure-aggregation`, six browser
 * contexts forced onto WebGPU, each liking its own items; one round. Two pages close as
 * soon as the coordinator accepted their masked input — before anyone is asked to unmask —
 * and the round still completes. Then:
 *
 * - the new global model is the old one plus the PLAIN MEAN of the six updates the
 *   browsers masked (server SGD at learning rate 1), to fixed-point precision. The updates
 *   come from the browsers themselves, through a probe only this test defines
 *   (page.exposeFunction(SECAGG_INPUT_PROBE), shared/participant/secagg-participant.ts),
 *   never from the coordinator; the probe also lets the test release the four pages that
 *   stay only after the two leavers are gone;
 * - no single update reached the coordinator in the clear, in the captured traffic of
 *   every page: no frame is an `update` event, no binary frame decodes as a ModelUpdate,
 *   and each page's masked input is statistically unlike its update (correlation ≈ 0
 *   where the plain fixed-point encoding correlates ≈ 1; almost no zero words where the
 *   update is mostly zeros — untouched item rows — and words spread uniformly over the ring).
 *
 * Six, not five, because shared/secagg keeps no share of a participant's own secrets: with
 * five (complete graph, t = 3) a survivor that stayed would have only two answering
 * neighbours for its self-mask (shared/secagg/README.md, "Requests from the wire").
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ModelInfoResponseSchema, RoundsResponseSchema, RoundStartMessageSchema } from '../shared/protocol/messages.ts';
import { modelApiPath, weightsApiPath } from '../shared/protocol/model-routes.ts';
import { SECAGG_INPUT_PROBE, type SecAggInputProbeCall } from '../shared/participant/secagg-participant.ts';
import { decodeUpdate, decodeWeights, fromWireTensors } from '../shared/update/tensor-codec.ts';
import { globalParams, type ModelSpec } from '../shared/model/model-spec.ts';
import { elementCount } from '../shared/tensor/named-tensors.ts';
import { ensureBuilt } from './harness/build.ts';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { getJson, startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';
import { modelState, readState, waitFor } from './harness/page-state.ts';
import { captureTraffic, type TrafficCapture } from './harness/traffic-capture.ts';

const PAGES = 6;
const LEAVERS = 2;
const LIKES = 5;
const TIMEOUT_MS = Number(process.env.FLOCK_E2E_TRAINING_TIMEOUT_MS ?? 300_000);

interface Browserish {
  readonly index: number;
  readonly context: BrowserContext;
  readonly page: Page;
  readonly traffic: TrafficCapture;
  readonly console: string[];
  probe?: SecAggInputProbeCall;
  closed: boolean;
}

let coordinator: RunningCoordinator | undefined;
let browser: Browser | undefined;
const pages: Browserish[] = [];

const diagnostics = () =>
  `\ncoordinator log (tail):\n${coordinator?.logs.slice(-40).join('\n')}\n` + pages.map((p) => `page ${p.index} console:\n${p.console.slice(-12).join('\n')}`).join('\n');

before(async () => {
  await ensureBuilt();
  coordinator = await startCoordinator({
    extraArgs: [
      '--models', 'mf', '--dim', '16', '--local-epochs', '1',
      '--min-clients', String(PAGES), '--clients-per-round', '1', '--max-rounds', '1',
      // Four phases share the round's time (a quarter each): the masked-input phase waits for WebGPU training on SwiftShader.
      '--round-timeout', '240000',
      '--server-optimizer', 'sgd', '--server-lr', '1',
      '--secure-aggregation',
    ],
  });
  browser = await launchChromium();
});

after(async () => {
  for (const p of pages) await p.context.close().catch(() => {});
  await browser?.close().catch(() => {});
  await coordinator?.stop();
});

/** The socket.io events a page sent, each with its binary attachments (frames "45N-/nsp,[…]" are followed by N binary frames). */
function sentEvents(t: TrafficCapture): { name: string; json: unknown; attachments: Buffer[] }[] {
  const out: { name: string; json: unknown; attachments: Buffer[] }[] = [];
  const waiting = new Map<number, { left: number; event: { name: string; json: unknown; attachments: Buffer[] } }>();
  for (const f of t.frames) {
    if (typeof f.payload !== 'string') {
      const w = waiting.get(f.socket);
      assert.ok(w, `a binary frame on socket ${f.socket} that belongs to no event`);
      w.event.attachments.push(f.payload);
      if (--w.left === 0) waiting.delete(f.socket);
      continue;
    }
    const m = /^4([25])(?:(\d+)-)?(\/[^,]*),(.*)$/s.exec(f.payload);
    if (!m) continue; // engine.io ping/pong, CONNECT (40), DISCONNECT (41)
    const [name, json] = JSON.parse(m[4]) as [string, unknown];
    const event = { name, json, attachments: [] as Buffer[] };
    out.push(event);
    if (m[1] === '5') waiting.set(f.socket, { left: Number(m[2]), event });
  }
  return out;
}

function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Statistics of a vector of ring words read as signed fixed point: correlation with the update, zero fraction, mean of word / 2^32. */
function ringStats(words: Uint32Array, update: readonly number[], scale: number) {
  const signed = Float64Array.from(words, (w) => (w | 0) / scale);
  let zeros = 0;
  let u = 0;
  for (const w of words) {
    if (w === 0) zeros++;
    u += w / 2 ** 32;
  }
  return { corr: pearson(signed, update), zeros: zeros / words.length, uniformMean: u / words.length };
}

test('six WebGPU browsers, secure aggregation, two leave right after their masked input: the round completes, the model moves by the plain mean of their updates, and no update reached the coordinator in the clear', { timeout: 600_000 }, async () => {
  const url = coordinator!.url;
  let releaseStayers!: () => void;
  const stayersMaySend = new Promise<void>((resolve) => (releaseStayers = resolve));

  for (let k = 0; k < PAGES; k++) {
    const context = await browser!.newContext();
    const page = await context.newPage();
    const p: Browserish = { index: k, context, page, traffic: captureTraffic(page), console: collectConsole(page, `p${k} `), closed: false };
    pages.push(p);
    // The probe: the browser's own masked vector, and (for those that stay) when it may send it.
    await page.exposeFunction(SECAGG_INPUT_PROBE, async (call: SecAggInputProbeCall) => {
      p.probe = call;
      if (k >= LEAVERS) await stayersMaySend;
    });
    await page.goto(`${url}/?backend=webgpu`);
  }
  for (const p of pages) {
    await p.page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 }).catch((e: Error) => assert.fail(`page ${p.index} never became ready: ${e.message}${diagnostics()}`));
    assert.equal((await readState(p.page)).backend, 'webgpu', `page ${p.index} runs on WebGPU`);
    for (let j = 0; j < LIKES; j++) {
      await p.page.locator(`[data-testid=catalog-item][data-item-id="${p.index + PAGES * j}"] button[data-testid=like]`).click();
    }
  }
  const info = ModelInfoResponseSchema.parse(await getJson(url, modelApiPath('mf')));
  const spec: ModelSpec = { kind: 'mf', params: info.params.map((q) => ({ name: q.name, shape: q.shape, scope: q.scope, init: { kind: 'zeros' } })) };
  const vectorLength = globalParams(spec).reduce((n, q) => n + elementCount(q.shape), 0);

  // The leavers send first; once the coordinator has acknowledged their masked input, they close.
  const leavers = pages.slice(0, LEAVERS);
  await waitFor('the leavers\' masked inputs are acknowledged', TIMEOUT_MS, async () => {
    for (const p of leavers) if (!p.probe || modelState(await readState(p.page), 'mf').roundsJoined < 1) return false;
    return true;
  }, 500, diagnostics);
  for (const p of leavers) {
    await p.traffic.settle();
    await p.page.close();
    p.closed = true;
  }
  assert.ok(!coordinator!.logs.some((l) => l.includes('"msg":"secure aggregation: round unmasked"')), 'nobody was asked to unmask before the leavers left');
  releaseStayers();

  await waitFor('the secure round publishes version 1', TIMEOUT_MS, async () => ModelInfoResponseSchema.parse(await getJson(url, modelApiPath('mf'))).version >= 1 || null, 1000, diagnostics);
  const { rounds } = RoundsResponseSchema.parse(await getJson(url, `${modelApiPath('mf')}/rounds`));
  assert.equal(rounds.length, 1);
  const [record] = rounds;
  assert.equal(record.outcome, 'aggregated', JSON.stringify(record));
  assert.equal(record.selected, PAGES);
  assert.equal(record.received, PAGES, 'all six masked inputs are in the sum (two of their senders were gone before unmasking)');
  assert.equal(record.meanPreClipNorm, null);
  const unmasked = coordinator!.logs.find((l) => l.includes('"msg":"secure aggregation: round unmasked"'));
  assert.ok(unmasked && JSON.parse(unmasked).summands === PAGES, `the coordinator unmasked the sum of ${PAGES}: ${unmasked}`);
  assert.equal(JSON.parse(unmasked).why, 'everyone', 'the unmasking closed once the four that stayed answered: the two that left were dropouts at once, not waited for until the deadline');

  // The model moved by the plain mean of what the browsers masked.
  const weights = async (v: number) => {
    const res = await fetch(`${url}${weightsApiPath('mf', v)}`);
    assert.equal(res.status, 200);
    return fromWireTensors(decodeWeights(new Uint8Array(await res.arrayBuffer())).tensors);
  };
  const [w0, w1] = [await weights(record.baseVersion), await weights(record.newVersion!)];
  const probes = pages.map((p) => p.probe!);
  assert.ok(probes.every((q) => q && q.round === record.round && q.input.length === vectorLength), 'every browser reported its masked vector for this round');
  let off = 0;
  let worst = 0;
  let largest = 0;
  for (const q of globalParams(spec)) {
    for (let i = 0; i < w1[q.name].length; i++) {
      let mean = 0;
      for (const pr of probes) mean += pr.input[off + i];
      mean /= probes.length;
      largest = Math.max(largest, Math.abs(mean));
      worst = Math.max(worst, Math.abs(w1[q.name][i] - w0[q.name][i] - mean));
    }
    off += elementCount(q.shape);
  }
  console.log(`v${record.newVersion} − v${record.baseVersion} vs the plain mean of the 6 browsers' updates: max deviation ${worst.toExponential(2)} (largest mean coordinate ${largest.toExponential(2)})`);
  assert.ok(largest > 1e-3, 'the updates are not all zero (the check can fail)');
  assert.ok(worst < 1e-6, `the new model is the old plus the plain mean, within fixed-point precision (max deviation ${worst})`);

  // No update in the clear, on any page's socket.
  for (const p of pages) {
    if (!p.closed) await p.traffic.settle();
    const events = sentEvents(p.traffic);
    const names = events.map((e) => e.name);
    assert.ok(!names.includes('update'), `page ${p.index} sent an update event`);
    for (const f of p.traffic.frames) {
      if (typeof f.payload === 'string') continue;
      assert.throws(() => decodeUpdate(new Uint8Array(f.payload as Buffer)), Error, `page ${p.index}: a binary frame decodes as a ModelUpdate`);
    }
    const masked = events.filter((e) => e.name === 'secagg:masked-input');
    assert.equal(masked.length, 1, `page ${p.index} sent one masked input (sent: ${names.join(', ')})`);
    const [attachment] = masked[0].attachments;
    assert.equal(attachment.length, 4 * vectorLength, 'the masked input is one ring word per coordinate, dense');
    const words = new Uint32Array(attachment.buffer.slice(attachment.byteOffset, attachment.byteOffset + attachment.length));
    const start = p.traffic.received.map((r) => /^42\/models\/mf,(.*)$/s.exec(r.payload)).filter((m) => m && m[1].includes('"round:start"')).map((m) => RoundStartMessageSchema.parse((JSON.parse(m![1]) as [string, unknown])[1]))[0];
    const scale = start.secureAggregation!.scale;
    const update = p.probe!.input;
    const clear = Uint32Array.from(update, (x) => Math.round(x * scale) >>> 0); // what the ring would carry unmasked
    const seen = ringStats(words, update, scale);
    const plain = ringStats(clear, update, scale);
    console.log(`page ${p.index}${p.closed ? ' (left after masking)' : ''}: masked vs update corr ${seen.corr.toFixed(4)}, zero words ${(100 * seen.zeros).toFixed(3)} %, mean word/2³² ${seen.uniformMean.toFixed(4)}; unmasked encoding: corr ${plain.corr.toFixed(4)}, zero words ${(100 * plain.zeros).toFixed(1)} %`);
    assert.ok(plain.corr > 0.99 && plain.zeros > 0.5, 'the statistics would expose an unmasked update');
    assert.ok(Math.abs(seen.corr) < 0.05, `page ${p.index}: masked input correlates with its update (${seen.corr})`);
    assert.ok(seen.zeros < 0.001, `page ${p.index}: the masked input has ${seen.zeros} zero words`);
    assert.ok(Math.abs(seen.uniformMean - 0.5) < 0.02, `page ${p.index}: masked words are not spread over the ring (${seen.uniformMean})`);
  }
});
