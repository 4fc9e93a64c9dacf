import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import { checkUpdateAgainstSpec } from './check-update.ts';
import { toWireTensors, type ModelUpdate } from './tensor-codec.ts';

const spec: ModelSpec = {
  kind: 'mf',
  params: [
    { name: 'item_emb', shape: [4, 2], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'item_bias', shape: [4], scope: 'global', init: { kind: 'zeros' } },
    { name: 'user_emb', shape: [2], scope: 'local', init: { kind: 'zeros' } },
  ],
};

function update(over: Partial<ModelUpdate> = {}, emb = Float32Array.from([0, 0, 0.3, 0.4, 0, 0, 0, 0])): ModelUpdate {
  return {
    round: 1,
    baseVersion: 0,
    numExamples: 10,
    preClipNorm: 0.5,
    tensors: toWireTensors(spec, { item_emb: emb, item_bias: new Float32Array(4) }, { sparseRows: true }),
    ...over,
  };
}

function expectCode(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof FlockError && e.code === code && re.test(e.message));
}

test('accepts a valid update and returns dense global tensors', () => {
  const d = checkUpdateAgainstSpec(spec, update(), 1);
  assert.deepEqual(Object.keys(d).sort(), ['item_bias', 'item_emb']);
  assert.deepEqual(Array.from(d.item_emb), [0, 0, 0.30000001192092896, 0.4000000059604645, 0, 0, 0, 0]);
  // Exactly at the bound (0.5) passes thanks to the tolerance.
  checkUpdateAgainstSpec(spec, update(), 0.5);
});

test('wrong-shape: missing, extra, local and mis-shaped tensors', () => {
  const u = update();
  expectCode(() => checkUpdateAgainstSpec(spec, { ...u, tensors: [u.tensors[0]] }, 1), 'wrong-shape', /missing tensor item_bias/);
  expectCode(
    () => checkUpdateAgainstSpec(spec, { ...u, tensors: [...u.tensors, { name: 'user_emb', shape: [2], data: new Float32Array(2) }] }, 1),
    'wrong-shape',
    /user_emb/,
  );
  expectCode(
    () => checkUpdateAgainstSpec(spec, { ...u, tensors: [u.tensors[0], { name: 'item_bias', shape: [2, 2], data: new Float32Array(4) }] }, 1),
    'wrong-shape',
    /item_bias: expected shape \[4\], got \[2,2\]/,
  );
});

test('non-finite values', () => {
  expectCode(() => checkUpdateAgainstSpec(spec, update({}, Float32Array.from([0, 0, NaN, 0, 0, 0, 0, 0])), 1), 'non-finite', /item_emb/);
  expectCode(() => checkUpdateAgainstSpec(spec, update({}, Float32Array.from([0, 0, 0, 0, 0, 0, Infinity, 0])), 1), 'non-finite', /Infinity/);
});

test('over-bound', () => {
  expectCode(() => checkUpdateAgainstSpec(spec, update(), 0.49), 'over-bound', /exceeds clip bound 0.49/);
});

test('malformed numExamples', () => {
  for (const n of [0, -1, 1.5, NaN, 1e7 + 1]) {
    expectCode(() => checkUpdateAgainstSpec(spec, update({ numExamples: n }), 1), 'malformed', /numExamples/);
  }
  checkUpdateAgainstSpec(spec, update({ numExamples: 1e7 }), 1);
});
