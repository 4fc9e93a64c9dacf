import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { StreamingWeightedMean } from './streaming-weighted-mean.ts';

const spec: ModelSpec = {
  kind: 'mf',
  params: [
    { name: 'emb', shape: [20, 3], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'bias', shape: [20], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'dense', shape: [4], scope: 'global', init: { kind: 'zeros' } },
  ],
};

for (const rowNormalize of [false, true]) {
  test(`addRows gives the identical mean to add() of the densified updates (rowNormalize=${rowNormalize})`, () => {
    const rnd = new SeededRandom(3);
    const dense = new StreamingWeightedMean(spec, { rowNormalize });
    const sparse = new StreamingWeightedMean(spec, { rowNormalize });
    for (let c = 0; c < 30; c++) {
      const rows = Int32Array.from([...new Set(Array.from({ length: 1 + rnd.int(6) }, () => rnd.int(20)))].sort((a, b) => a - b));
      const embRows = Float32Array.from({ length: rows.length * 3 }, () => rnd.normal());
      const biasRows = Float32Array.from({ length: rows.length }, () => (rnd.next() < 0.2 ? 0 : rnd.normal()));
      if (c % 7 === 0) embRows.fill(0, 0, 3); // a listed row that is all zero must not count as touched
      const emb = new Float32Array(60);
      const bias = new Float32Array(20);
      rows.forEach((r, i) => {
        emb.set(embRows.subarray(i * 3, i * 3 + 3), r * 3);
        bias[r] = biasRows[i];
      });
      const d = Float32Array.from({ length: 4 }, () => rnd.normal());
      const w = 1 + rnd.int(50);
      dense.add({ emb, bias, dense: d }, w);
      sparse.addRows({ emb: { rows, data: embRows }, bias: { rows, data: biasRows }, dense: d }, w);
    }
    assert.equal(sparse.count, dense.count);
    assert.equal(sparse.totalWeight, dense.totalWeight);
    const a = dense.mean();
    const b = sparse.mean();
    for (const k of ['emb', 'bias', 'dense']) assert.deepEqual(b[k], a[k]);
  });
}

test('addRows rejects unsorted or out-of-range rows and mismatched lengths, leaving no trace', () => {
  const agg = new StreamingWeightedMean(spec);
  const ok = { bias: { rows: Int32Array.from([1]), data: Float32Array.from([1]) }, dense: new Float32Array(4) };
  assert.throws(() => agg.addRows({ ...ok, emb: { rows: Int32Array.from([2, 1]), data: new Float32Array(6) } }, 1), FlockError);
  assert.throws(() => agg.addRows({ ...ok, emb: { rows: Int32Array.from([20]), data: new Float32Array(3) } }, 1), FlockError);
  assert.throws(() => agg.addRows({ ...ok, emb: { rows: Int32Array.from([1]), data: new Float32Array(2) } }, 1), FlockError);
  assert.throws(() => agg.addRows({ ...ok, emb: { rows: Int32Array.from([1]), data: new Float32Array(3) } }, 0), FlockError);
  assert.equal(agg.count, 0);
});
