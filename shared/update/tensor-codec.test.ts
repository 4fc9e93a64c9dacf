import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import {
  decodeUpdate,
  decodeWeights,
  encodeUpdate,
  encodeWeights,
  fromWireTensors,
  peekUpdateRound,
  toWireTensors,
  type ModelUpdate,
} from './tensor-codec.ts';

const spec: ModelSpec = {
  kind: 'mf',
  params: [
    { name: 'item_emb', shape: [5, 3], scope: 'global', rowSparse: true, init: { kind: 'normal', std: 0.1 } },
    { name: 'item_bias', shape: [5], scope: 'global', init: { kind: 'zeros' } },
  ],
};

function sampleUpdate(): ModelUpdate {
  const emb = new Float32Array(15);
  emb.set([1, 2, 3], 3); // row 1
  emb.set([0, 0, -4.5], 12); // row 4
  const bias = Float32Array.from([0.5, -1, 0, 2, 1e-30]);
  return {
    round: 7,
    baseVersion: 6,
    numExamples: 42,
    preClipNorm: 1.25,
    tensors: toWireTensors(spec, { item_emb: emb, item_bias: bias }, { sparseRows: true }),
  };
}

function expectFlock(fn: () => unknown, code: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FlockError, `expected FlockError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

test('round-trips a dense and a row-sparse tensor', () => {
  const u = sampleUpdate();
  const emb = u.tensors.find((t) => t.name === 'item_emb')!;
  assert.deepEqual(Array.from(emb.rows!), [1, 4]);
  assert.equal(emb.data.length, 6);
  const d = decodeUpdate(encodeUpdate(u));
  assert.equal(d.round, 7);
  assert.equal(d.baseVersion, 6);
  assert.equal(d.numExamples, 42);
  assert.equal(d.preClipNorm, 1.25);
  assert.deepEqual(d.tensors, u.tensors);
  const dense = fromWireTensors(d.tensors);
  assert.deepEqual(Array.from(dense.item_emb), [0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, -4.5]);
  assert.deepEqual(dense.item_bias, u.tensors[1].data);
});

test('peekUpdateRound reads the round from the header only, and refuses what is not an update', () => {
  const bytes = encodeUpdate(sampleUpdate());
  assert.equal(peekUpdateRound(bytes), 7);
  assert.equal(peekUpdateRound(bytes.subarray(0, 16)), 7); // tensors need not be there (nor be valid)
  assert.throws(() => peekUpdateRound(new Uint8Array([1, 2, 3, 4, 5])), (e: unknown) => e instanceof FlockError && e.code === 'malformed');
  assert.throws(() => peekUpdateRound(bytes.subarray(0, 10)), FlockError);
  const other = encodeWeights({ version: 1, round: 7, modelKind: 'mf', tensors: [] });
  assert.throws(() => peekUpdateRound(other), FlockError);
});

test('dense encoding without sparseRows and weights file round-trip', () => {
  const t = { item_emb: Float32Array.from({ length: 15 }, (_, i) => i - 7.5), item_bias: new Float32Array(5) };
  const wires = toWireTensors(spec, t);
  assert.ok(wires.every((w) => !w.rows));
  const w = decodeWeights(encodeWeights({ version: 3, modelKind: 'mf-ünï', round: 2, tensors: wires }));
  assert.equal(w.version, 3);
  assert.equal(w.round, 2);
  assert.equal(w.modelKind, 'mf-ünï');
  assert.deepEqual(fromWireTensors(w.tensors), t);
});

test('float payloads are 4-byte aligned', () => {
  // Name of odd length forces padding; the payload offset must still be aligned.
  const bytes = encodeUpdate({ round: 0, baseVersion: 0, numExamples: 1, preClipNorm: 0, tensors: [{ name: 'abc', shape: [2], data: Float32Array.from([1.5, 2.5]) }] });
  const off = bytes.length - 8;
  assert.equal(off % 4, 0);
  assert.equal(new DataView(bytes.buffer).getFloat32(off, true), 1.5);
});

test('truncation at every byte offset throws FlockError', () => {
  const full = encodeUpdate(sampleUpdate());
  for (let n = 0; n < full.length; n++) expectFlock(() => decodeUpdate(full.slice(0, n)), 'malformed');
  const wfull = encodeWeights({ version: 1, modelKind: 'mf', round: 0, tensors: sampleUpdate().tensors });
  for (let n = 0; n < wfull.length; n++) expectFlock(() => decodeWeights(wfull.slice(0, n)), 'malformed');
});

test('trailing bytes, bad magic, wrong version, unknown dtype', () => {
  const full = encodeUpdate(sampleUpdate());
  const longer = new Uint8Array(full.length + 4);
  longer.set(full);
  expectFlock(() => decodeUpdate(longer), 'malformed', /trailing/);
  const bad = full.slice();
  bad[0] = 'X'.charCodeAt(0);
  expectFlock(() => decodeUpdate(bad), 'malformed', /magic/);
  // A weights file is not an update.
  expectFlock(() => decodeUpdate(encodeWeights({ version: 1, modelKind: 'mf', round: 0, tensors: [] })), 'malformed', /magic/);
  const ver = full.slice();
  new DataView(ver.buffer).setUint16(4, 99, true);
  expectFlock(() => decodeUpdate(ver), 'unsupported-format', /99/);
  // dtype byte of the first tensor: header 32 + count 4 + name len 2 + "item_emb" 8 → pad to 48, layout at 48, dtype 49.
  const dt = full.slice();
  assert.equal(dt[49], 1);
  dt[49] = 7;
  expectFlock(() => decodeUpdate(dt), 'unsupported-format', /dtype/);
});

test('absurd dims, out-of-range rows, duplicate names, size limit', () => {
  const full = encodeUpdate(sampleUpdate());
  const view = (b: Uint8Array) => new DataView(b.buffer);
  // First dim of item_emb at 52.
  const dims = full.slice();
  view(dims).setUint32(52, 0xffffffff, true);
  expectFlock(() => decodeUpdate(dims), 'malformed', /limit/);
  // Dense item_bias: its single dim sits right before its payload (last 20 bytes).
  const dd = full.slice();
  view(dd).setUint32(full.length - 24, 1000, true);
  expectFlock(() => decodeUpdate(dd), 'malformed', /payload/);
  // Row-sparse: rank 2 → dims 52, 56; row count 60; rows 64, 68.
  const rows = full.slice();
  assert.equal(view(rows).getUint32(68, true), 4);
  view(rows).setUint32(68, 5, true);
  expectFlock(() => decodeUpdate(rows), 'malformed', /out of range/);
  const rank = full.slice();
  rank[50] = 200;
  expectFlock(() => decodeUpdate(rank), 'malformed', /rank/);
  const dup = sampleUpdate();
  expectFlock(() => encodeUpdate({ ...dup, tensors: [dup.tensors[1], dup.tensors[1]] }), 'malformed', /duplicate/);
  // Forge a duplicate on the wire: two names of the same length, then patch one byte.
  const a = encodeUpdate({ ...dup, tensors: [{ name: 'aa', shape: [1], data: new Float32Array(1) }, { name: 'ab', shape: [1], data: new Float32Array(1) }] });
  const i = a.lastIndexOf('b'.charCodeAt(0));
  a[i] = 'a'.charCodeAt(0);
  expectFlock(() => decodeUpdate(a), 'malformed', /duplicate/);
  expectFlock(() => decodeUpdate(full, { maxBytes: full.length - 1 }), 'too-large');
  assert.ok(decodeUpdate(full, { maxBytes: full.length }));
});

test('random corruption throws FlockError or decodes, never crashes', () => {
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const full = encodeUpdate(sampleUpdate());
  for (let k = 0; k < 2000; k++) {
    const b = full.slice();
    for (let j = 0; j < 3; j++) b[rnd() % b.length] = rnd();
    try {
      decodeUpdate(b);
    } catch (e) {
      assert.ok(e instanceof FlockError, String(e));
    }
  }
});

test('decoded arrays are copies, not views into the input', () => {
  const bytes = encodeUpdate(sampleUpdate());
  const d = decodeUpdate(bytes);
  for (const t of d.tensors) {
    assert.notEqual(t.data.buffer, bytes.buffer);
    if (t.rows) assert.notEqual(t.rows.buffer, bytes.buffer);
  }
  const before = Array.from(d.tensors[1].data);
  bytes.fill(0);
  assert.deepEqual(Array.from(d.tensors[1].data), before);
  // Unaligned input (byteOffset 1) decodes too.
  const shifted = new Uint8Array(bytes.length + 1);
  const again = encodeUpdate(sampleUpdate());
  shifted.set(again, 1);
  assert.deepEqual(decodeUpdate(shifted.subarray(1)).tensors, sampleUpdate().tensors);
});

test('toWireTensors rejects unknown names and wrong lengths', () => {
  expectFlock(() => toWireTensors(spec, { nope: new Float32Array(1) }), 'wrong-shape', /nope/);
  expectFlock(() => toWireTensors(spec, { item_bias: new Float32Array(4) }), 'wrong-shape', /item_bias/);
});

test('f16 and int8 tensors: encoded sizes, round trip with rows, refusals (weights, truncation, unknown dtype, inconsistent packing)', () => {
  const data = Float32Array.from([1, 0.5, -2, 0.25, 0, 1]);
  const f16: ModelUpdate['tensors'][number] = { name: 'item_emb', shape: [5, 3], rows: Uint32Array.from([1, 3]), data, packed: { encoding: 'f16', halves: Uint16Array.from([0x3c00, 0x3800, 0xc000, 0x3400, 0, 0x3c00]) } };
  const int8: ModelUpdate['tensors'][number] = { name: 'item_bias', shape: [5], data: Float32Array.from([2, -1, 0, 0, 1]), packed: { encoding: 'int8', scales: Float32Array.from([2]), values: Int8Array.from([1, -1, 0, 0, 1]) } };
  // The decoded values must be what `data` says: the decoder recomputes them from the packed ones.
  int8.data.set([2, -2, 0, 0, 2]);
  const u: ModelUpdate = { round: 3, baseVersion: 2, numExamples: 4, preClipNorm: 1, tensors: [f16, int8] };
  const bytes = encodeUpdate(u);
  const f32Bytes = encodeUpdate({ ...u, tensors: u.tensors.map(({ packed: _p, ...t }) => t) });
  // f16: 6 values × 2 bytes (+ 0 pad) instead of 24; int8: 4 (scale) + 5 + 3 pad instead of 20.
  assert.equal(f32Bytes.length - bytes.length, (24 - 12) + (20 - 12));
  const back = decodeUpdate(bytes);
  assert.deepEqual(back.tensors, u.tensors);
  assert.deepEqual(decodeUpdate(bytes, { views: true }).tensors, u.tensors);
  for (let cut = 1; cut < 12; cut++) assert.throws(() => decodeUpdate(bytes.subarray(0, bytes.length - cut)), { name: 'FlockError', code: 'malformed' });
  // dtype byte of the first tensor: after the 32-byte header, count, name ("item_emb": 2+8 → 12 bytes) and layout.
  const dtypeAt = 32 + 4 + 12 + 1;
  assert.equal(bytes[dtypeAt], 2);
  const unknown = bytes.slice();
  unknown[dtypeAt] = 4;
  assert.throws(() => decodeUpdate(unknown), { name: 'FlockError', code: 'unsupported-format' });
  assert.throws(() => encodeWeights({ version: 1, round: 1, modelKind: 'mf', tensors: [f16] }), { name: 'FlockError', code: 'malformed' });
  // A weights file whose tensor claims f16 is refused: weights are always f32.
  const w = encodeWeights({ version: 1, round: 1, modelKind: 'mf', tensors: [{ name: 'item_bias', shape: [5], data: int8.data }] });
  const wDtypeAt = 16 + 4 + 4 + 12 + 1; // header, modelKind "mf" (2+2), count, name "item_bias" (2+9+1), layout
  assert.equal(w[wDtypeAt], 1);
  const wF16 = w.slice();
  wF16[wDtypeAt] = 2;
  assert.throws(() => decodeWeights(wF16), { name: 'FlockError', code: 'unsupported-format' });
  assert.throws(() => encodeUpdate({ ...u, tensors: [{ ...int8, packed: { encoding: 'int8', scales: Float32Array.from([1, 1]), values: Int8Array.from([1, -1, 0, 0, 1]) } }] }), { name: 'FlockError', code: 'malformed' });
  assert.throws(() => encodeUpdate({ ...u, tensors: [{ ...f16, packed: { encoding: 'f16', halves: new Uint16Array(5) } }] }), { name: 'FlockError', code: 'malformed' });
});
