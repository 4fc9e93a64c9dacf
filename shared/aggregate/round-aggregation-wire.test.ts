/**
 * The coordinator's path from the wire (decodeUpdate → RoundAggregation.add) for
 * row-sparse and dense updates: the same aggregate either way, refusals that change
 * nothing, and the one-pass validation's norm where it matters.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { checkDeltaAgainstSpec, deltaL2Norm, sumOfSquares } from '../update/check-update.ts';
import { scaleDelta } from '../update/scale-delta.ts';
import { buildUpdate } from '../update/build-update.ts';
import { decodeUpdate, encodeUpdate, toWireTensors, type ModelUpdate, type WireTensor } from '../update/tensor-codec.ts';
import type { AggregationSettings, CombineRule } from './aggregation-settings.ts';
import { MeanCombine } from './mean-combine.ts';
import { RoundAggregation } from './round-aggregation.ts';

const ITEMS = 40;
const DIM = 4;
const spec: ModelSpec = {
  kind: 'mf',
  params: [
    { name: 'itemEmbedding', shape: [ITEMS, DIM], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'itemBias', shape: [ITEMS], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'userEmbedding', shape: [DIM], scope: 'local', init: { kind: 'zeros' } },
  ],
};

const settings = (combine: CombineRule, over: Partial<AggregationSettings> = {}): AggregationSettings => ({
  weighting: { kind: 'examples-capped', cap: 50 }, combine, clipNorm: 1, rowNormalize: true, ...over,
});

/** A client's dense delta touching `touched` random rows (others exactly 0), scaled to `norm`. */
function clientDelta(rng: SeededRandom, touched: number, norm: number): NamedTensors {
  const emb = new Float32Array(ITEMS * DIM);
  const bias = new Float32Array(ITEMS);
  for (let k = 0; k < touched; k++) {
    const r = Math.floor(rng.next() * ITEMS);
    for (let j = 0; j < DIM; j++) emb[r * DIM + j] = rng.next() * 2 - 1;
    bias[r] = rng.next() * 2 - 1;
  }
  const s = norm / Math.sqrt([...emb, ...bias].reduce((a, v) => a + v * v, 0));
  for (let i = 0; i < emb.length; i++) emb[i] *= s;
  for (let i = 0; i < bias.length; i++) bias[i] *= s;
  return { itemEmbedding: emb, itemBias: bias };
}

function encode(delta: NamedTensors, sparseRows: boolean | 'when-smaller', numExamples = 3): Uint8Array {
  return encodeUpdate({ round: 1, baseVersion: 0, numExamples, preClipNorm: 0.5, tensors: toWireTensors(spec, delta, { sparseRows }) });
}

const bitsOf = (t: NamedTensors) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length))]));

/** Twelve clients, a few of them above the bound within the float32 tolerance (the bound stage rescales those). */
function clients(): NamedTensors[] {
  const rng = new SeededRandom(7);
  return Array.from({ length: 12 }, (_, k) => clientDelta(rng, 1 + (k % 5), k % 4 === 0 ? 1 + 4e-6 : 0.3 + 0.05 * k));
}

for (const combine of [{ kind: 'mean' }, { kind: 'centered-clipping' }, { kind: 'median' }] as CombineRule[]) {
  for (const rowNormalize of [true, false]) {
    test(`${combine.kind}${rowNormalize ? ', row-normalised' : ''}: row-sparse and dense on the wire give the bit-identical aggregate, with or without views`, () => {
      const results = [];
      for (const [sparseRows, views] of [[false, false], [true, false], ['when-smaller', true], [true, true]] as const) {
        const agg = new RoundAggregation(spec, settings(combine, { rowNormalize }));
        clients().forEach((d, k) => agg.add(decodeUpdate(encode(d, sparseRows, 1 + k), { views })));
        results.push(bitsOf(agg.result()));
      }
      // addDelta of the dense in-memory deltas: the simulation's path.
      const mem = new RoundAggregation(spec, settings(combine, { rowNormalize }));
      clients().forEach((d, k) => mem.addDelta(d, 1 + k));
      results.push(bitsOf(mem.result()));
      for (const r of results.slice(1)) assert.deepEqual(r, results[0]);
    });
  }
}

test('the wire really is row-sparse: sparse bytes are smaller, decode with rows, and when-smaller falls back to dense', () => {
  const few = clientDelta(new SeededRandom(1), 3, 0.5);
  const sparse = decodeUpdate(encode(few, 'when-smaller'));
  assert.ok(sparse.tensors.every((t) => t.rows !== undefined));
  assert.ok(encode(few, 'when-smaller').length < encode(few, false).length / 3);
  // Every row touched: row-sparse would be larger, so dense it is.
  const all = clientDelta(new SeededRandom(2), 400, 0.5);
  assert.ok(decodeUpdate(encode(all, 'when-smaller')).tensors.every((t) => t.rows === undefined));
  assert.ok(decodeUpdate(encode(all, true)).tensors.every((t) => t.rows !== undefined));
  // buildUpdate: dense unless asked.
  const base = { itemEmbedding: new Float32Array(ITEMS * DIM), itemBias: new Float32Array(ITEMS) };
  const meta = { round: 1, baseVersion: 0, numExamples: 2, clipNorm: 1 };
  assert.ok(decodeUpdate(buildUpdate(spec, few, base, meta).bytes).tensors.every((t) => t.rows === undefined));
  assert.ok(decodeUpdate(buildUpdate(spec, few, base, { ...meta, rows: 'when-smaller' }).bytes).tensors.every((t) => t.rows !== undefined));
});

test('decodeUpdate views: in-place views where aligned, copies where not, the same values', () => {
  const bytes = encode(clientDelta(new SeededRandom(3), 4, 0.5), true);
  const copied = decodeUpdate(bytes);
  const viewed = decodeUpdate(bytes, { views: true });
  for (const t of copied.tensors) assert.notEqual(t.data.buffer, bytes.buffer);
  for (const t of viewed.tensors) {
    assert.equal(t.data.buffer, bytes.buffer);
    assert.equal(t.rows!.buffer, bytes.buffer);
  }
  const shifted = new Uint8Array(bytes.length + 1).subarray(1);
  shifted.set(bytes);
  const unaligned = decodeUpdate(shifted, { views: true });
  for (const t of unaligned.tensors) assert.notEqual(t.data.buffer, shifted.buffer);
  const values = (u: ModelUpdate) => u.tensors.map((t) => [t.name, Array.from(t.data), Array.from(t.rows ?? [])]);
  assert.deepEqual(values(viewed), values(copied));
  assert.deepEqual(values(unaligned), values(copied));
});

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof FlockError && err.code === code && (!message || message.test(err.message)));
}

/** A hand-made update (not through the decoder, which refuses bad rows itself). */
function sparseUpdate(rows: number[], emb: number[], bias: number[], numExamples = 2): ModelUpdate {
  const tensors: WireTensor[] = [
    { name: 'itemEmbedding', shape: [ITEMS, DIM], rows: Uint32Array.from(rows), data: Float32Array.from(emb) },
    { name: 'itemBias', shape: [ITEMS], rows: Uint32Array.from(rows), data: Float32Array.from(bias) },
  ];
  return { round: 1, baseVersion: 0, numExamples, preClipNorm: 0.5, tensors };
}

for (const combine of [{ kind: 'mean' }, { kind: 'centered-clipping' }] as CombineRule[]) {
  test(`${combine.kind}: a refused row-sparse update changes nothing (bad row, non-increasing rows, non-finite, over-bound)`, () => {
    const good = sparseUpdate([1, 5], [0.1, 0.2, 0.1, 0, 0, 0, 0.3, 0.1], [0.1, 0.2]);
    const other = sparseUpdate([5, 9], [0.2, 0.1, 0, 0.1, 0.1, 0.1, 0.1, 0.1], [0.05, 0.3], 4);
    const reference = new RoundAggregation(spec, settings(combine));
    reference.add(good);
    reference.add(other);
    const bad: [ModelUpdate, string, RegExp][] = [
      [sparseUpdate([1, ITEMS], [0.1, 0, 0, 0, 0.1, 0, 0, 0], [0, 0]), 'wrong-shape', /strictly increasing in \[0, 40\)/],
      [sparseUpdate([5, 5], [0.1, 0, 0, 0, 0.1, 0, 0, 0], [0, 0]), 'wrong-shape', /strictly increasing/],
      [sparseUpdate([6, 2], [0.1, 0, 0, 0, 0.1, 0, 0, 0], [0, 0]), 'wrong-shape', /strictly increasing/],
      [sparseUpdate([1, 5], [0.1, 0, 0, 0, 0.1, 0, NaN, 0], [0, 0]), 'non-finite', /itemEmbedding: value NaN at index 6/],
      [sparseUpdate([1, 5], [0.1, 0, 0, 0, 0.1, 0, 0, 0], [0, -Infinity]), 'non-finite', /itemBias: value -Infinity at index 1/],
      [sparseUpdate([1, 5], [0.6, 0, 0, 0, 0.6, 0, 0, 0], [0.6, 0]), 'over-bound', /exceeds clip bound 1/],
      [sparseUpdate([1, 5], [0.1, 0, 0, 0, 0.1, 0, 0], [0, 0]), 'wrong-shape', /2 rows need 8 values, got 7/],
    ];
    for (const [u, code, message] of bad) {
      const agg = new RoundAggregation(spec, settings(combine));
      agg.add(good);
      expectCode(() => agg.add(u), code, message);
      assert.equal(agg.count, 1);
      agg.add(other);
      assert.deepEqual(bitsOf(agg.result()), bitsOf(reference.result()));
    }
    // Bad rows on the wire are refused by the decoder already ('malformed').
    const wire = encodeUpdate(sparseUpdate([1, 5], [0.1, 0, 0, 0, 0.1, 0, 0, 0], [0, 0]));
    const view = new DataView(wire.buffer);
    const corrupted = wire.slice();
    // Find the embedding's rows [1, 5] (the first u32 pair 1, 5 after the header) and make them [5, 5].
    let found = false;
    for (let at = 32; at + 8 <= corrupted.length && !found; at += 4) {
      if (view.getUint32(at, true) === 1 && view.getUint32(at + 4, true) === 5) {
        new DataView(corrupted.buffer).setUint32(at, 5, true);
        found = true;
      }
    }
    assert.ok(found);
    expectCode(() => decodeUpdate(corrupted, { views: true }), 'malformed', /not strictly increasing/);
  });
}

test('dense refusals change nothing either: non-finite anywhere, over the bound', () => {
  const d = clientDelta(new SeededRandom(4), 5, 0.5);
  const agg = new RoundAggregation(spec, settings({ kind: 'mean' }));
  agg.add(decodeUpdate(encode(d, false)));
  const before = bitsOf(agg.result());
  const nan = { ...d, itemEmbedding: d.itemEmbedding.slice() };
  nan.itemEmbedding[ITEMS * DIM - 1] = NaN;
  expectCode(() => agg.add(decodeUpdate(encode(nan, false), { views: true })), 'non-finite', new RegExp(`itemEmbedding: value NaN at index ${ITEMS * DIM - 1}`));
  const big = { itemEmbedding: d.itemEmbedding.map((v) => v * 2.0001), itemBias: d.itemBias.map((v) => v * 2.0001) };
  expectCode(() => agg.add(decodeUpdate(encode(big, false), { views: true })), 'over-bound', /exceeds clip bound 1/);
  assert.equal(agg.count, 1);
  assert.deepEqual(bitsOf(agg.result()), before);
});

test('one-pass validation: the norm is deltaL2Norm exactly near the bound, within 1e-12 below it; sumOfSquares sees non-finite values', () => {
  const rng = new SeededRandom(5);
  for (const norm of [0.2, 0.9, 1 - 1e-10, 1, 1 + 3e-6]) {
    const d = clientDelta(rng, 7, norm);
    const exact = deltaL2Norm(d);
    const got = checkDeltaAgainstSpec(spec, d, 1);
    if (exact >= 1 - 1e-9) assert.equal(got, exact);
    else assert.ok(Math.abs(got - exact) <= 1e-12 * exact);
  }
  // Squares of 1e-16 vanish one by one next to 1 (the sequential sum stays exactly 1) but
  // not in the other partial sums: the two sums differ, and at the bound the exact one counts.
  const skew = { itemEmbedding: new Float32Array(ITEMS * DIM).fill(1e-8), itemBias: new Float32Array(ITEMS).fill(1e-8) };
  skew.itemEmbedding[0] = 1;
  assert.equal(deltaL2Norm(skew), 1);
  assert.notEqual(Math.sqrt(sumOfSquares(skew.itemEmbedding) + sumOfSquares(skew.itemBias)), 1);
  assert.equal(checkDeltaAgainstSpec(spec, skew, 1), 1);
  assert.ok(Math.abs(checkDeltaAgainstSpec(spec, skew, 10) - 1) < 1e-12);
  assert.ok(Number.isNaN(sumOfSquares(Float32Array.of(1, 2, NaN, 3, 4))));
  assert.equal(sumOfSquares(Float32Array.of(1, 2, 3, 4, 5, -Infinity)), Infinity);
  assert.equal(sumOfSquares(Float32Array.of(1, 2, 3, 4, 5)), 55);
});

test('the streaming mean folds the bound stage\'s rescale bit-for-bit as scaleDelta then add', () => {
  const d = clientDelta(new SeededRandom(6), 6, 1);
  const sparse = { itemEmbedding: { rows: Int32Array.of(0, 3), data: Float32Array.of(0.3, -0.2, 1e-30, 0, 0.1, 0.1, 0.1, 0.1) }, itemBias: Float32Array.from(d.itemBias) };
  for (const delta of [d, sparse]) {
    for (const rowNormalize of [true, false]) {
      const a = new MeanCombine(spec, rowNormalize, Infinity);
      const b = new MeanCombine(spec, rowNormalize, Infinity);
      for (const [scale, w] of [[0.9999993, 1], [1e-12, 3], [1, 2]]) {
        a.addScaled(delta, w, scale);
        b.add(scaleDelta(delta, scale), w);
      }
      assert.deepEqual(bitsOf(a.result()), bitsOf(b.result()));
    }
  }
});
