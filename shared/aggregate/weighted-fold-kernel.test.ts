import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelSpec } from '../model/model-spec.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import type { RowSparseTensor } from '../update/row-sparse-clip.ts';
import { StreamingWeightedMean } from './streaming-weighted-mean.ts';

// Widths 32 (the SIMD lanes), 3 (odd: the scalar tail) and 1 (a bias), and a dense parameter.
const spec: ModelSpec = {
  kind: 'mf',
  params: [
    { name: 'emb', shape: [50, 32], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'odd', shape: [40, 3], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'bias', shape: [50], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'dense', shape: [7], scope: 'global', init: { kind: 'zeros' } },
  ],
};

function randomDelta(rnd: SeededRandom, dense: boolean): Record<string, Float32Array | RowSparseTensor> {
  const out: Record<string, Float32Array | RowSparseTensor> = {};
  for (const p of spec.params) {
    const numRows = p.shape[0];
    const width = p.shape.length > 1 ? p.shape[1] : 1;
    if (p.name === 'dense') {
      out[p.name] = Float32Array.from({ length: numRows }, () => rnd.normal());
      continue;
    }
    const rows = Int32Array.from([...Array(numRows).keys()].filter(() => rnd.next() < 0.3));
    const data = Float32Array.from({ length: rows.length * width }, () => rnd.normal());
    // A listed row of zeros (one of them −0) must not count as touched.
    if (rows.length > 1) data.fill(0, 0, width);
    if (rows.length > 2) data.fill(-0, width, 2 * width);
    if (!dense) {
      out[p.name] = { rows, data };
      continue;
    }
    const full = new Float32Array(numRows * width);
    rows.forEach((r, i) => full.set(data.subarray(i * width, (i + 1) * width), r * width));
    out[p.name] = full;
  }
  return out;
}

for (const rowNormalize of [true, false]) {
  test(`the WebAssembly fold gives the JS fold's sums and row weights bit for bit (rowNormalize ${rowNormalize})`, () => {
    const rnd = new SeededRandom(5);
    const wasm = new StreamingWeightedMean(spec, { rowNormalize });
    const js = new StreamingWeightedMean(spec, { rowNormalize, kernel: false });
    for (let c = 0; c < 40; c++) {
      const delta = randomDelta(rnd, c % 3 === 0);
      const weight = 1 + rnd.int(40) + rnd.next();
      // Now and then an update the bound stage rescales (the scaled fold), by a lot or by a hair (as an update clipped to C by the client and a float32 rounding above it).
      const scale = c % 5 === 4 ? 0.75 : c % 5 === 3 ? 1 - 3e-8 * c : 1;
      wasm.addChecked(delta, weight, scale);
      js.addChecked(delta, weight, scale);
    }
    const a = wasm.sums();
    const b = js.sums();
    for (const p of spec.params) {
      assert.deepEqual(a.get(p.name), b.get(p.name), `sums of ${p.name}`);
      assert.ok(b.get(p.name)!.some((x) => x !== 0));
    }
    assert.deepEqual(wasm.mean(), js.mean());
  });
}

test('every StreamingWeightedMean keeps sums of its own (two folding at once do not mix)', () => {
  const rnd = new SeededRandom(8);
  const one = new StreamingWeightedMean(spec, { rowNormalize: true });
  const two = new StreamingWeightedMean(spec, { rowNormalize: true });
  const ref = new StreamingWeightedMean(spec, { rowNormalize: true, kernel: false });
  for (let c = 0; c < 10; c++) {
    const d = randomDelta(rnd, false);
    one.addChecked(d, 2);
    ref.addChecked(d, 2);
    two.addChecked(randomDelta(rnd, true), 3);
  }
  assert.deepEqual(one.mean(), ref.mean());
});
