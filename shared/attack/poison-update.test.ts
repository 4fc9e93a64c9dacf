import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import { deltaL2Norm, MAX_NUM_EXAMPLES } from '../update/check-update.ts';
import { ATTACKER_CLAIMED_EXAMPLES, parseAttackKind, pickAttackers, poisonUpdate } from './poison-update.ts';

const honest = () => ({ emb: { rows: Int32Array.of(1, 4), data: Float32Array.of(0.3, 0, 0, 0.4) }, bias: Float32Array.of(0, 0.1, 0) });
const values = (t: Float32Array | { data: Float32Array }) => Array.from(t instanceof Float32Array ? t : t.data);
const close = (a: number[], b: number[], eps = 1e-6) => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) < eps);

test('reverse: −C·Δ/‖Δ‖ on the same rows; scale: +C·Δ/‖Δ‖; the input is not changed', () => {
  const d = honest();
  const norm = deltaL2Norm(d);
  const r = poisonUpdate('reverse', d, 2, new SeededRandom(1));
  assert.ok(close(values(r.emb), [0.3, 0, 0, 0.4].map((x) => (-2 * x) / norm)));
  assert.ok(close(values(r.bias), [0, 0.1, 0].map((x) => (-2 * x) / norm)));
  assert.deepEqual(Array.from((r.emb as { rows: Int32Array }).rows), [1, 4]);
  assert.ok(Math.abs(deltaL2Norm(r) - 2) < 1e-6);
  const s = poisonUpdate('scale', d, 2, new SeededRandom(1));
  assert.ok(close(values(s.emb), [0.3, 0, 0, 0.4].map((x) => (2 * x) / norm)));
  assert.deepEqual(d, honest());
});

test('noise: Gaussian of norm C on the support of Δ, seeded', () => {
  const a = poisonUpdate('noise', honest(), 1.5, new SeededRandom(9));
  const b = poisonUpdate('noise', honest(), 1.5, new SeededRandom(9));
  const c = poisonUpdate('noise', honest(), 1.5, new SeededRandom(10));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(Math.abs(deltaL2Norm(a) - 1.5) < 1e-6);
  assert.equal(values(a.emb).length, 4);
  assert.equal(values(a.bias).length, 3);
  assert.ok(values(a.emb).every((x) => x !== 0));
});

test('an all-zero Δ stays zero for reverse and scale; bad input is a FlockError', () => {
  const zero = { w: new Float32Array(3) };
  assert.deepEqual(values(poisonUpdate('reverse', zero, 1, new SeededRandom(1)).w), [0, 0, 0]);
  assert.throws(() => poisonUpdate('reverse', zero, 0, new SeededRandom(1)), FlockError);
  assert.throws(() => parseAttackKind('flip'), (e: unknown) => e instanceof FlockError && e.code === 'bad-config' && /reverse, noise, scale/.test(e.message));
  assert.equal(parseAttackKind('noise'), 'noise');
  assert.equal(ATTACKER_CLAIMED_EXAMPLES, MAX_NUM_EXAMPLES);
});

test('pickAttackers: a fixed seeded subset of round(fraction × n)', () => {
  const ids = Array.from({ length: 943 }, (_, i) => i);
  const a = pickAttackers(ids, 0.1, 7);
  assert.equal(a.size, 94);
  assert.deepEqual([...a], [...pickAttackers(ids, 0.1, 7)]);
  assert.notDeepEqual([...a], [...pickAttackers(ids, 0.1, 8)]);
  assert.equal(pickAttackers(ids, 0, 7).size, 0);
  assert.throws(() => pickAttackers(ids, 1, 7), FlockError);
});
