import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FlockError } from '../errors.ts';
import { mannWhitneyAuc, stratifiedAuc } from './membership-auc.ts';
import { membershipScores } from './membership-scores.ts';

test('Mann–Whitney AUC, hand-computed: members [0.9, 0.5, 0.5] vs [0.5, 0.1] wins 5 of 6 pairs (two ties count ½)', () => {
  // 0.9>0.5, 0.9>0.1, 0.5=0.5 (½), 0.5>0.1, 0.5=0.5 (½), 0.5>0.1 → U = 5.
  const r = mannWhitneyAuc([0.9, 0.5, 0.5], [0.5, 0.1]);
  assert.equal(r.pairs, 6);
  assert.equal(r.u, 5);
  assert.equal(r.auc, 5 / 6);
  assert.equal(mannWhitneyAuc([1, 1], [1, 1, 1]).auc, 0.5, 'all ties: ½');
  assert.equal(mannWhitneyAuc([0], [1, 2]).auc, 0, 'every member below');
  assert.ok(Number.isNaN(mannWhitneyAuc([], [1]).auc), 'no pairs: NaN');
});

test('Mann–Whitney AUC equals the brute-force pair count (ties ½) on random inputs with many ties', () => {
  const scores = fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 30 });
  fc.assert(
    fc.property(scores, scores, (m, n) => {
      let u = 0;
      for (const a of m) for (const b of n) u += a > b ? 1 : a === b ? 0.5 : 0;
      const r = mannWhitneyAuc(m, n);
      return r.u === u && r.pairs === m.length * n.length;
    }),
  );
});

test('stratified AUC counts only pairs within a stratum, hand-computed', () => {
  // stratum 0: member 1 vs non-member 0 → 1; stratum 1: member 0 vs non-member 2 → 0. Pooled ½.
  const r = stratifiedAuc([1, 0], [0, 1], [0, 2], [0, 1]);
  assert.equal(r.pairs, 2);
  assert.equal(r.auc, 0.5);
  // Unstratified the same scores give (1 + 0 + ½ + 0) / 4.
  assert.equal(mannWhitneyAuc([1, 0], [0, 2]).auc, 0.375);
  // A stratum with members only adds no pairs.
  assert.equal(stratifiedAuc([1, 0, 5], [0, 1, 2], [0, 2], [0, 1]).pairs, 2);
});

test('bad input is refused with a typed error', () => {
  assert.throws(() => mannWhitneyAuc([NaN], [1]), (e: unknown) => e instanceof FlockError && e.code === 'bad-data');
  assert.throws(() => stratifiedAuc([1], [], [0], [0]), (e: unknown) => e instanceof FlockError && e.code === 'bad-data');
  assert.throws(() => stratifiedAuc([1], [-1], [0], [0]), (e: unknown) => e instanceof FlockError && e.code === 'bad-data');
});

test('membership scores: row norm over (embedding row, bias) and signed bias, row-sparse equals dense', () => {
  const sparse = { itemEmbedding: { rows: Int32Array.of(0, 2), data: Float32Array.of(3, 0, 0, 0) }, itemBias: { rows: Int32Array.of(0, 2), data: Float32Array.of(4, -0.5) } };
  const dense = { itemEmbedding: Float32Array.of(3, 0, 0, 0, 0, 0), itemBias: Float32Array.of(4, 0, -0.5) };
  for (const v of [sparse, dense]) {
    assert.deepEqual(Array.from(membershipScores(v, 3, 2, 'row-norm')), [5, 0, 0.5]);
    assert.deepEqual(Array.from(membershipScores(v, 3, 2, 'bias')), [4, 0, -0.5]);
  }
  assert.throws(() => membershipScores({ ...sparse, itemBias: { rows: Int32Array.of(0, 3), data: Float32Array.of(1, 1) } }, 3, 2, 'bias'), (e: unknown) => e instanceof FlockError && e.code === 'wrong-shape');
  assert.throws(() => membershipScores(dense, 3, 3, 'row-norm'), (e: unknown) => e instanceof FlockError && e.code === 'wrong-shape');
});
