import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelSpec } from '../model/model-spec.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { elementCount } from '../tensor/named-tensors.ts';
import type { RowSparseTensor } from '../update/row-sparse-clip.ts';
import { CenteredClippingCombine } from './centered-clipping.ts';
import { CenteredClippingKernel } from './centered-clipping-kernel.ts';
import { JsPasses } from './centered-clipping-passes.ts';
import { StoredUpdates } from './stored-updates.ts';

// Even, odd and width-1 row-sparse tables and a dense parameter: every loop of both passes.
const spec: ModelSpec = {
  kind: 'test',
  params: [
    { name: 'even', shape: [40, 6], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'odd', shape: [30, 3], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'bias', shape: [40], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'dense', shape: [7], scope: 'global', init: { kind: 'zeros' } },
  ],
};

/** Random updates: each touches a random subset of rows; magnitudes spread over 2 decades so a radius clips some and not others. */
function randomDeltas(n: number, seed: number): Record<string, Float32Array | RowSparseTensor>[] {
  const rng = new SeededRandom(seed);
  return Array.from({ length: n }, () => {
    const size = 0.05 * 10 ** (2 * rng.next());
    const delta: Record<string, Float32Array | RowSparseTensor> = {};
    for (const p of spec.params) {
      const n = elementCount(p.shape);
      if (!p.rowSparse) {
        delta[p.name] = Float32Array.from({ length: n }, () => size * (rng.next() - 0.5));
        continue;
      }
      const numRows = p.shape[0];
      const width = n / numRows;
      const rows = Int32Array.from([...Array(numRows).keys()].filter(() => rng.next() < 0.3));
      delta[p.name] = { rows, data: Float32Array.from({ length: rows.length * width }, () => size * (rng.next() - 0.5)) };
    }
    return delta;
  });
}

for (const rowNormalize of [true, false]) {
  test(`centered clipping: the WebAssembly passes equal the JS passes bit for bit (rowNormalize ${rowNormalize})`, () => {
    const stored = new StoredUpdates(spec, 100);
    randomDeltas(25, 3).forEach((d, k) => stored.add(d, 1 + (k % 3)));
    const params = stored.params;
    const sizes = params.map((p) => elementCount(p.shape));
    const widths = params.map((p, pi) => sizes[pi] / (p.shape[0] ?? 1));
    const rowWeightRows = params.map((p) => (p.rowSparse && rowNormalize ? (p.shape[0] ?? 1) : null));
    const js = new JsPasses(widths, sizes, rowWeightRows, stored.updates);
    const wasm = CenteredClippingKernel.forUpdates(widths, sizes, rowWeightRows, stored.updates);
    assert.ok(wasm, 'WebAssembly SIMD runs in Node');
    const rng = new SeededRandom(9);
    for (let pi = 0; pi < params.length; pi++) {
      for (let i = 0; i < sizes[pi]; i++) js.center[pi][i] = wasm.center[pi][i] = 0.1 * (rng.next() - 0.5);
      js.step[pi].fill(0);
      wasm.step[pi].fill(0);
      js.rowWeight[pi]?.fill(0);
      wasm.rowWeight[pi]?.fill(0);
    }
    for (let k = 0; k < stored.count; k++) {
      for (let pi = 0; pi < params.length; pi++) {
        for (const minus of params[pi].rowSparse ? [false, true] : [false]) {
          const a = js.distance2(k, pi, minus);
          assert.ok(a > 0 || minus);
          assert.ok(Object.is(wasm.distance2(k, pi, minus), a), `distance of update ${k}, ${params[pi].name}, minusCenter2 ${minus}`);
        }
        const scale = 0.3 + rng.next();
        js.pull(k, pi, scale, stored.updates[k].weight);
        wasm.pull(k, pi, scale, stored.updates[k].weight);
      }
    }
    for (let pi = 0; pi < params.length; pi++) {
      assert.deepEqual(wasm.step[pi], js.step[pi], `step of ${params[pi].name}`);
      assert.ok(js.step[pi].some((x) => x !== 0));
      assert.deepEqual(wasm.rowWeight[pi], js.rowWeight[pi]);
    }
  });

  test(`centered clipping gives the same bits with and without the WebAssembly passes, round after round (rowNormalize ${rowNormalize})`, () => {
    for (const seed of [1, 2]) {
      const rule = { kind: 'centered-clipping', radius: 0.05, iterations: 3 } as const;
      const withKernel = new CenteredClippingCombine(spec, rowNormalize, 100, rule, 1);
      const jsOnly = new CenteredClippingCombine(spec, rowNormalize, 100, rule, 1, false);
      const mean = new CenteredClippingCombine(spec, rowNormalize, 100, { kind: 'centered-clipping', radius: 1e9, iterations: 1 }, 1);
      for (const d of randomDeltas(40, seed)) {
        withKernel.add(d, 1);
        jsOnly.add(d, 1);
        mean.add(d, 1);
      }
      const got = withKernel.result();
      assert.deepEqual(got, jsOnly.result());
      // The radius binds: the result is not the plain mean.
      assert.notDeepEqual(got, mean.result());
    }
  });
}

test('a storing rule combines once: result() is kept, its updates released, a later add refused, count and weight kept', () => {
  const rule = { kind: 'centered-clipping', radius: 0.05, iterations: 2 } as const;
  const c = new CenteredClippingCombine(spec, true, 100, rule, 1);
  const deltas = randomDeltas(6, 4);
  deltas.forEach((d) => c.add(d, 2));
  const first = c.result();
  assert.equal(c.result(), first);
  assert.equal(c.count, 6);
  assert.equal(c.totalWeight, 12);
  assert.throws(() => c.add(deltas[0], 1), /already combined/);
  // The next round's rule, on the recycled slabs, computes what a rule on fresh memory computes.
  const again = new CenteredClippingCombine(spec, true, 100, rule, 1);
  const fresh = new CenteredClippingCombine(spec, true, 100, rule, 1, false);
  for (const d of randomDeltas(6, 5)) {
    again.add(d, 1);
    fresh.add(d, 1);
  }
  assert.deepEqual(again.result(), fresh.result());
});
