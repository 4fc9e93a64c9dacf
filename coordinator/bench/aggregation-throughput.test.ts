import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeUpdate } from '../../shared/update/tensor-codec.ts';
import { benchmarkUpdate, formatAggregationThroughput, measureAggregationThroughput, ML100K_ITEMS, MF_DIM } from './aggregation-throughput.ts';

test('the benchmark updates are what the table says: a dense ML-100K MF update (222 KB) and a ≈ 14 KB row-sparse one', () => {
  const dense = decodeUpdate(benchmarkUpdate('dense'));
  assert.deepEqual(dense.tensors.map((t) => [t.name, t.shape, t.rows === undefined]), [['itemEmbedding', [ML100K_ITEMS, MF_DIM], true], ['itemBias', [ML100K_ITEMS], true]]);
  const sparse = benchmarkUpdate('row-sparse');
  assert.ok(sparse.length > 12_000 && sparse.length < 16_000, `${sparse.length} bytes`);
  assert.ok(decodeUpdate(sparse).tensors.every((t) => t.rows !== undefined));
});

test('measureAggregationThroughput: one row per case with positive figures, and a printable table', () => {
  const r = measureAggregationThroughput({ repeats: 1, updatesPerRepeat: 8, includeDefaultRule: false });
  assert.deepEqual(r.rows.map((row) => [row.encoding, row.decode]), [['dense', 'views'], ['row-sparse', 'views']]);
  for (const row of r.rows) {
    for (const v of [row.coordinatorGBps, row.axpyGBps, row.ratio, row.usPerUpdate]) assert.ok(Number.isFinite(v) && v > 0);
  }
  assert.deepEqual(r.lines, formatAggregationThroughput(r.rows));
  assert.equal(r.lines.length, 2 + r.rows.length);
});
