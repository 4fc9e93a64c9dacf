import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeededRandom } from '../random/seeded-random.ts';
import { quantizeWireTensors } from './quantize-update.ts';
import { decodeUpdate, encodeUpdate, type WireTensor } from './tensor-codec.ts';

function tensors(seed: number, norm: number): WireTensor[] {
  const rng = new SeededRandom(seed);
  const emb = new Float32Array(40 * 8).map(() => rng.normal());
  const bias = new Float32Array(40).map(() => rng.normal());
  let s = 0;
  for (const v of [...emb, ...bias]) s += v * v;
  const k = norm / Math.sqrt(s);
  return [
    { name: 'emb', shape: [40, 8], data: emb.map((v) => v * k) },
    { name: 'bias', shape: [40], data: bias.map((v) => v * k) },
  ];
}

function decodedNorm(ts: readonly WireTensor[]): number {
  let s = 0;
  for (const t of ts) for (const v of t.data) s += v * v;
  return Math.sqrt(s);
}

test('quantizeWireTensors: updates clipped to C stay ≤ C once decoded (f16 and int8), and the wire carries exactly `data`', () => {
  const C = 1;
  for (const encoding of ['f16', 'int8'] as const) {
    let shrunk = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const raw = tensors(seed, C); // exactly at the bound, like every clipped update
      const q = quantizeWireTensors(raw, encoding, C, new SeededRandom(seed));
      const n = decodedNorm(q);
      assert.ok(n <= C, `${encoding} seed ${seed}: decoded norm ${n} > ${C}`);
      assert.ok(n > C * 0.99, `${encoding} seed ${seed}: shrunk too far (${n})`);
      if (n < C * (1 - 1e-7)) shrunk++;
      const back = decodeUpdate(encodeUpdate({ round: 1, baseVersion: 0, numExamples: 3, preClipNorm: 2, tensors: q }));
      assert.deepEqual(back.tensors.map((t) => [...t.data]), q.map((t) => [...t.data]));
      assert.deepEqual(back.tensors.map((t) => t.packed?.encoding), [encoding, encoding]);
    }
    // Stochastic int8 rounding raises the norm about half the time; f16 rounding too, at times.
    assert.ok(shrunk > 0, `${encoding}: no update needed the shrink, so the test does not exercise it`);
  }
});

test('quantizeWireTensors: f32 unchanged; f16 overflow refused', () => {
  const raw = tensors(3, 1);
  assert.deepEqual(quantizeWireTensors(raw, 'f32', 1, new SeededRandom(1)), raw);
  assert.throws(() => quantizeWireTensors([{ name: 'x', shape: [1], data: Float32Array.from([1e6]) }], 'f16', 1e7, new SeededRandom(1)), { name: 'FlockError', code: 'non-finite' });
});
