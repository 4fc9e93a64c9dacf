import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { neighbourGraph } from './neighbour-graph.ts';
import { chooseNeighbours } from './secagg-params.ts';
import { testParams } from './secagg-test-helpers.ts';

function connected(graph: ReadonlyMap<string, readonly string[]>): boolean {
  const start = graph.keys().next().value!;
  const seen = new Set([start]);
  const stack = [start];
  while (stack.length) for (const v of graph.get(stack.pop()!)!) if (!seen.has(v)) (seen.add(v), stack.push(v));
  return seen.size === graph.size;
}

test('the graph is k-regular, symmetric, without self-loops, and connected', () => {
  fc.assert(
    fc.property(fc.integer({ min: 3, max: 300 }), fc.integer({ min: 1, max: 40 }), fc.string({ minLength: 1, maxLength: 20 }), (n, kWanted, context) => {
      const params = testParams(n, 1, { neighbours: kWanted, context });
      const graph = neighbourGraph(params);
      assert.equal(graph.size, n);
      for (const [u, nb] of graph) {
        assert.equal(nb.length, params.neighbours, `${u} has ${nb.length} neighbours, expected ${params.neighbours}`);
        assert.equal(new Set(nb).size, nb.length);
        assert.ok(!nb.includes(u));
        for (const v of nb) assert.ok(graph.get(v)!.includes(u), `${u}→${v} without ${v}→${u}`);
      }
      assert.ok(connected(graph));
    }),
    { numRuns: 150 },
  );
});

test('the graph is the same for the same context and differs between rounds', () => {
  const a = neighbourGraph(testParams(200, 1, { neighbours: 10, context: 'run/round-1' }));
  const a2 = neighbourGraph(testParams(200, 1, { neighbours: 10, context: 'run/round-1' }));
  const b = neighbourGraph(testParams(200, 1, { neighbours: 10, context: 'run/round-2' }));
  assert.deepEqual([...a], [...a2]);
  assert.notDeepEqual([...a], [...b]);
});

test('the chosen degree grows like log n: k ≤ 4·log2(n) + 8 from 10 to 1,000,000 participants, at 10 % and 30 % dropout', () => {
  for (const dropout of [0.1, 0.3]) {
    const ks: number[] = [];
    for (const n of [10, 100, 1000, 10_000, 100_000, 1_000_000]) {
      const k = chooseNeighbours(n, dropout);
      ks.push(k);
      const c = dropout === 0.1 ? 4 : 16;
      assert.ok(k <= Math.min(n - 1, c * Math.log2(n) + 8), `n=${n} dropout ${dropout}: k=${k}`);
    }
    for (let i = 1; i < ks.length; i++) assert.ok(ks[i] >= ks[i - 1]);
    // from 10^3 to 10^6 participants (×1000) the degree grows by less than 2×
    assert.ok(ks[5] < 2 * ks[2], `k(1e6)=${ks[5]} vs k(1e3)=${ks[2]}`);
  }
});
