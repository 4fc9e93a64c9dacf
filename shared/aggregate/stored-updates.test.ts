import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import type { RowSparseTensor } from '../update/row-sparse-clip.ts';
import { StoredUpdates } from './stored-updates.ts';

const spec: ModelSpec = {
  kind: 'test',
  params: [
    { name: 'table', shape: [5, 3], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'dense', shape: [2], scope: 'global', init: { kind: 'zeros' } },
    { name: 'mine', shape: [4], scope: 'local', init: { kind: 'zeros' } },
  ],
};

test('StoredUpdates keeps exactly the non-zero rows (dense or row-sparse input), dense params whole, as copies', () => {
  const s = new StoredUpdates(spec, 4);
  const denseTable = new Float32Array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, -2, 0, 0, 0]);
  const denseParam = new Float32Array([0.5, -0.5]);
  s.add({ table: denseTable, dense: denseParam }, 2);
  const sparse: RowSparseTensor = { rows: new Int32Array([0, 2, 4]), data: new Float32Array([1, 2, 3, 0, 0, 0, 4, 5, 6]) };
  s.add({ table: sparse, dense: { rows: new Int32Array([1]), data: new Float32Array([7]) } }, 1);
  // Every row kept: the block-copy path.
  s.add({ table: { rows: new Int32Array([3]), data: new Float32Array([8, 9, 10]) }, dense: new Float32Array([1, 1]) }, 1);
  // Mutating the caller's buffers afterwards changes nothing stored.
  denseTable.fill(9);
  denseParam.fill(9);
  sparse.data.fill(9);
  const got = s.updates.map((u) => u.tensors.map((t) => (t instanceof Float32Array ? [...t] : { rows: [...t.rows], data: [...t.data] })));
  assert.deepEqual(got, [
    [{ rows: [1, 3], data: [1, 0, 0, 0, 0, -2] }, [0.5, -0.5]],
    [{ rows: [0, 4], data: [1, 2, 3, 4, 5, 6] }, [0, 7]],
    [{ rows: [3], data: [8, 9, 10] }, [1, 1]],
  ]);
  assert.deepEqual(s.updates.map((u) => u.weight), [2, 1, 1]);
  assert.equal(s.totalWeight, 4);
  assert.equal(s.bytes, 4 * (2 * 4 + 2 + 2 * 4 + 2 + 1 * 4 + 2));
  const idx = s.rowIndex(0);
  assert.deepEqual([...idx.start], [0, 1, 2, 2, 4, 5]);
  assert.deepEqual([...idx.update], [1, 0, 0, 2, 1]);
  assert.deepEqual([...idx.position], [0, 0, 1, 0, 1]);
});

test('StoredUpdates: updates spanning several slabs, and one larger than a slab, stay intact', () => {
  const rows = 1 << 17; // 2^17 rows × width 4 = 2 MiB of floats: larger than one 1 MiB slab
  const big: ModelSpec = { kind: 'big', params: [{ name: 't', shape: [rows, 4], scope: 'global', rowSparse: true, init: { kind: 'zeros' } }] };
  const s = new StoredUpdates(big, 200);
  const sent: Float32Array[] = [];
  for (let k = 0; k < 150; k++) {
    const n = k === 75 ? rows : 1000 + k; // 1000+ rows × 5 words ≈ 20 KB each: several per slab, and slab changes
    const data = new Float32Array(n * 4).map((_, i) => k + i / 1e6 + 1);
    sent.push(data.slice());
    s.add({ t: { rows: Int32Array.from({ length: n }, (_, i) => i), data } }, 1);
    data.fill(0);
  }
  s.updates.forEach((u, k) => {
    const t = u.tensors[0] as RowSparseTensor;
    assert.equal(t.rows.length, sent[k].length / 4);
    assert.equal(t.rows[t.rows.length - 1], t.rows.length - 1);
    assert.deepEqual(t.data, sent[k], `update ${k}`);
  });
});

test('released slabs are reused by the next StoredUpdates, and what it stores is only its own values', () => {
  const first = new StoredUpdates(spec, 4);
  first.add({ table: new Float32Array(15).fill(3), dense: new Float32Array([9, 9]) }, 1);
  const slab = (first.updates[0].tensors[1] as Float32Array).buffer;
  first.release();
  assert.equal(first.count, 0);
  assert.throws(() => first.add({ table: new Float32Array(15), dense: new Float32Array(2) }, 1), FlockError);
  // The same thread's next round takes the slab back: a dense parameter sent row-sparse must read 0 where it sent nothing.
  const next = new StoredUpdates(spec, 4);
  next.add({ table: { rows: new Int32Array([2]), data: new Float32Array([1, 2, 3]) }, dense: { rows: new Int32Array([1]), data: new Float32Array([7]) } }, 1);
  const [table, dense] = next.updates[0].tensors;
  assert.deepEqual([...(dense as Float32Array)], [0, 7]);
  assert.deepEqual({ rows: [...(table as RowSparseTensor).rows], data: [...(table as RowSparseTensor).data] }, { rows: [2], data: [1, 2, 3] });
  assert.equal((dense as Float32Array).buffer, slab, 'the slab was reused');
});
