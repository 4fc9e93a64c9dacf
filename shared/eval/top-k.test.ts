import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FlockError } from '../errors.ts';
import { exclusionMask, topKByDot, topKOfScores } from './top-k.ts';

/** The obvious reference: sort everything (score descending, then id ascending), drop exclusions, take k. */
function reference(scores: ArrayLike<number>, k: number, excluded: Uint8Array | null): number[] {
  const ids = Array.from({ length: scores.length }, (_, i) => i).filter((i) => !excluded?.[i] && !Number.isNaN(scores[i]));
  ids.sort((a, b) => scores[b] - scores[a] || a - b);
  return ids.slice(0, k);
}

test('topKOfScores equals sorting the whole catalog, with exclusions and ties', () => {
  fc.assert(
    fc.property(
      // Few distinct values so ties are common.
      fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 0, maxLength: 60 }),
      fc.integer({ min: 0, max: 15 }),
      fc.array(fc.nat(70)),
      (values, k, excl) => {
        const mask = exclusionMask(values.length, excl);
        assert.deepEqual(topKOfScores(values, k, mask), reference(values, k, mask));
      },
    ),
  );
});

test('topKByDot ranks bias + ⟨row, query⟩ like the reference over the materialised scores', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 12 }), fc.boolean(), fc.integer(), (dim, n, k, withBias, seed) => {
      let s = seed >>> 0;
      const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % 7) - 3; // small integers: exact sums, many ties
      const vectors = Float32Array.from({ length: n * dim }, rnd);
      const bias = withBias ? Float32Array.from({ length: n }, rnd) : null;
      const query = Float32Array.from({ length: dim }, rnd);
      const scores = Array.from({ length: n }, (_, i) => {
        let x = bias ? bias[i] : 0;
        for (let d = 0; d < dim; d++) x += vectors[i * dim + d] * query[d];
        return x;
      });
      const mask = exclusionMask(n, [0, 3, n - 1]);
      assert.deepEqual(topKByDot({ vectors, dim, bias }, query, k, mask), reference(scores, k, mask));
    }),
  );
});

test('ties go to the lower id, NaN never ranks, excluded items never come back', () => {
  assert.deepEqual(topKOfScores([1, 2, 2, NaN, 2], 3), [1, 2, 4]);
  assert.deepEqual(topKOfScores([5, 4, 3], 3, exclusionMask(3, [0])), [1, 2]);
  assert.deepEqual(topKOfScores([NaN, NaN], 2), []);
  assert.deepEqual(topKOfScores([1, 2], 0), []);
});

test('bad input is refused with a typed error', () => {
  const code = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof FlockError && /malformed|wrong-shape/.test(e.code));
  code(() => topKOfScores([1, 2], -1));
  code(() => topKOfScores([1, 2], 1.5));
  code(() => topKOfScores([1, 2], 1, new Uint8Array(3)));
  code(() => topKByDot({ vectors: new Float32Array(6), dim: 4, bias: null }, new Float32Array(4), 1));
  code(() => topKByDot({ vectors: new Float32Array(6), dim: 3, bias: null }, new Float32Array(2), 1));
  code(() => topKByDot({ vectors: new Float32Array(6), dim: 3, bias: new Float32Array(3) }, new Float32Array(3), 1));
});
