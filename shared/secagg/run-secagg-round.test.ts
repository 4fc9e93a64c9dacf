import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { runSecAggRound } from './run-secagg-round.ts';
import { isSecAggError } from './secagg-error.ts';
import { neighboursOf } from './neighbour-graph.ts';
import { constantRounding, plainEncodedSum, testParams, testUpdates } from './secagg-test-helpers.ts';

const rounding = constantRounding();

test('no dropouts: the unmasked sum equals the plain sum of the fixed-point encodings exactly (complete graph)', () => {
  const params = testParams(5, 64);
  assert.equal(params.neighbours, 4);
  const updates = testUpdates(params);
  const r = runSecAggRound(params, updates, { rounding });
  assert.equal(r.summands, 5);
  assert.deepEqual(r.contributors, params.participants);
  assert.deepEqual(r.sum, plainEncodedSum(params, updates, params.participants));
});

test('sparse graph, drops before keys, after keys, after shares and after the masked input: exact sum of the survivors', () => {
  const params = testParams(16, 32, { neighbours: 8, context: 'sparse' });
  const ids = params.participants;
  const updates = testUpdates(params, 3);
  const r = runSecAggRound(params, updates, {
    rounding,
    drop: { beforeKeys: [ids[0]], afterKeys: [ids[5]], afterShares: [ids[9]], afterMaskedInput: [ids[12]] },
  });
  const contributors = ids.filter((id) => ![ids[0], ids[5], ids[9]].includes(id));
  assert.deepEqual(r.contributors, contributors); // ids[12] sent its input, then vanished: it is in the sum
  assert.equal(r.summands, 13);
  assert.deepEqual(r.sum, plainEncodedSum(params, updates, contributors));
});

test('property: with at most k − t dropouts of any kind the round completes and its sum is exact', () => {
  const kinds = ['beforeKeys', 'afterKeys', 'afterShares', 'afterMaskedInput'] as const;
  fc.assert(
    fc.property(
      fc.integer({ min: 4, max: 14 }),
      fc.integer({ min: 2, max: 10 }),
      fc.integer({ min: 1, max: 1000 }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...kinds)), { maxLength: 6 }),
      (n, kWanted, seed, dropSpec) => {
        const params = testParams(n, 8, { neighbours: kWanted, context: `p-${seed}` });
        const tolerated = params.neighbours - params.threshold;
        const drop: Record<(typeof kinds)[number], string[]> = { beforeKeys: [], afterKeys: [], afterShares: [], afterMaskedInput: [] };
        const dropped = new Set<string>();
        for (const [i, kind] of dropSpec) {
          const id = params.participants[i % n];
          if (dropped.size >= tolerated || dropped.has(id)) continue;
          dropped.add(id);
          drop[kind].push(id);
        }
        const updates = testUpdates(params, seed);
        const r = runSecAggRound(params, updates, { rounding, drop });
        const early = new Set([...drop.beforeKeys, ...drop.afterKeys, ...drop.afterShares]);
        const contributors = params.participants.filter((id) => !early.has(id));
        assert.deepEqual(r.contributors, contributors);
        assert.deepEqual(r.sum, plainEncodedSum(params, updates, contributors));
      },
    ),
    { numRuns: 25 },
  );
});

test('more than k − t of one participant\'s neighbours dropping after the masked input fails the round (typed), up to k − t it completes', () => {
  const params = testParams(12, 16, { neighbours: 6, context: 'threshold' }); // t = 4: 2 may go
  const victim = params.participants[3];
  const nb = neighboursOf(params, victim);
  const updates = testUpdates(params, 9);
  const ok = runSecAggRound(params, updates, { rounding, drop: { afterMaskedInput: nb.slice(0, 2) } });
  assert.deepEqual(ok.sum, plainEncodedSum(params, updates, params.participants));
  assert.throws(
    () => runSecAggRound(params, updates, { rounding, drop: { afterMaskedInput: nb.slice(0, 3) } }),
    (e) => isSecAggError(e, 'too-many-dropped'),
  );
});

test('too many dropping after their shares (their pairwise masks cannot be removed) fails the round before anyone is asked to unmask', () => {
  const params = testParams(6, 4); // complete graph, k = 5, t = 3
  const ids = params.participants;
  assert.throws(
    () => runSecAggRound(params, testUpdates(params), { drop: { afterShares: ids.slice(0, 4) } }),
    (e) => isSecAggError(e, 'too-many-dropped'),
  );
});

test('ring sizes below 32 bits and the clip bound: exact sums still', () => {
  const params = testParams(6, 16, { ringBits: 20, clipBound: 0.25 });
  const updates = testUpdates(params, 4);
  const r = runSecAggRound(params, updates, { rounding, drop: { afterMaskedInput: [params.participants[2]] } });
  assert.deepEqual(r.sum, plainEncodedSum(params, updates, params.participants));
  let plain = 0;
  for (const u of updates.values()) plain += u[0];
  assert.ok(Math.abs(r.sum[0] - plain) <= 6 / params.scale);
});
