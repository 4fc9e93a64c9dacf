import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFixedPoint } from './fixed-point-ring.ts';
import { SecAggClient } from './secagg-client.ts';
import { bytesToWords } from './ring-word-codec.ts';
import { SecAggServer } from './secagg-server.ts';
import { constantRounding, testParams } from './secagg-test-helpers.ts';

const BINS = 64;

/** One participant's masked input, with its update given, in an honest 4-party round. */
function maskedInputOf(update: Float32Array, ringBits = 32): Uint32Array {
  const params = testParams(4, update.length, { ringBits });
  const server = new SecAggServer(params);
  const clients = params.participants.map((id) => new SecAggClient(params, id, { rounding: constantRounding() }));
  for (const c of clients) server.receiveKeys(c.advertiseKeys());
  const nk = server.closeKeys();
  for (const c of clients) server.receiveShares(c.shareKeys(nk.get(c.id)!));
  const sfm = server.closeShares();
  const me = clients[0];
  return bytesToWords(me.maskedInput(sfm.get(me.id)!, update).masked, update.length);
}

/** Counts of the words' top 6 bits (64 equal bins of the ring). */
function histogram(words: Uint32Array, ringBits: number): number[] {
  const h = new Array<number>(BINS).fill(0);
  for (const w of words) h[Math.floor(w / 2 ** (ringBits - 6))]++;
  return h;
}

/** Pearson's χ² against the uniform distribution over BINS bins. */
function chiSquareUniform(h: number[]): number {
  const n = h.reduce((a, b) => a + b, 0);
  const e = n / BINS;
  return h.reduce((s, o) => s + (o - e) ** 2 / e, 0);
}

/** χ² of two histograms being draws of one distribution. */
function chiSquareTwoSample(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) if (a[i] + b[i] > 0) s += (a[i] - b[i]) ** 2 / (a[i] + b[i]);
  return s;
}

// χ² with 63 degrees of freedom: P(χ² > 110) ≈ 1.6e−4, so an honest run fails this test about once in 6,000.
const CRITICAL = 110;
const L = 16384;

test('a single masked input looks uniform in the ring whatever the update (χ², 64 bins)', () => {
  for (const [what, update] of [
    ['all zeros', new Float32Array(L)],
    ['all at +C', new Float32Array(L).fill(1)],
    ['a one-hot row pattern', Float32Array.from({ length: L }, (_, i) => (i % 32 === 0 ? 1 : 0))],
  ] as const) {
    const chi = chiSquareUniform(histogram(maskedInputOf(update), 32));
    assert.ok(chi < CRITICAL, `${what}: χ² = ${chi.toFixed(1)} ≥ ${CRITICAL}`);
  }
  const chi20 = chiSquareUniform(histogram(maskedInputOf(new Float32Array(L).fill(-1), 20), 20));
  assert.ok(chi20 < CRITICAL, `20-bit ring: χ² = ${chi20.toFixed(1)}`);
});

test('the masked inputs of two very different updates are indistinguishable (two-sample χ²), unlike the updates themselves', () => {
  const zeros = new Float32Array(L);
  const plus = new Float32Array(L).fill(1);
  const chi = chiSquareTwoSample(histogram(maskedInputOf(zeros), 32), histogram(maskedInputOf(plus), 32));
  assert.ok(chi < CRITICAL, `χ² = ${chi.toFixed(1)}`);
  // the test can tell: the plain encodings are as far apart as two histograms get
  const params = testParams(4, L);
  const enc = (x: Float32Array) => encodeFixedPoint(x, params, constantRounding());
  assert.ok(chiSquareTwoSample(histogram(enc(zeros), 32), histogram(enc(plus), 32)) > CRITICAL);
});
