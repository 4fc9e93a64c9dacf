import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isSecAggError } from './secagg-error.ts';
import { reconstructSecret, SHARE_BYTES, splitSecret } from './shamir.ts';

const random = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));

test('any t of the k shares reconstruct the secret', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.integer({ min: 2, max: 12 }).chain((k) => fc.tuple(fc.constant(k), fc.integer({ min: 1, max: k }), fc.shuffledSubarray(Array.from({ length: 40 }, (_, i) => i + 1), { minLength: k, maxLength: k }))),
      (secret, [k, t, xs]) => {
        const shares = splitSecret(secret, t, xs, random);
        assert.equal(shares.length, k);
        for (const s of shares) assert.equal(s.length, SHARE_BYTES);
        const points = xs.map((x, i) => ({ x, y: shares[i] }));
        const subset = fc.sample(fc.shuffledSubarray(points, { minLength: t, maxLength: t }), 1)[0];
        assert.deepEqual(reconstructSecret(subset, t, 32), secret);
      },
    ),
    { numRuns: 100 },
  );
});

test('t − 1 shares do not give the secret: interpolating them as if t were smaller yields something else', () => {
  const secret = random(32);
  const xs = [3, 5, 8, 9, 11];
  const shares = splitSecret(secret, 3, xs, random);
  const two = [{ x: 3, y: shares[0] }, { x: 5, y: shares[1] }];
  assert.throws(() => reconstructSecret(two, 3, 32), (e) => isSecAggError(e, 'too-many-dropped'));
  let wrong: Uint8Array | undefined;
  try {
    wrong = reconstructSecret(two, 2, 32);
  } catch (e) {
    assert.ok(isSecAggError(e, 'malformed')); // the degree-2 polynomial's line through two points rarely lands below 2^256
  }
  if (wrong) assert.notDeepEqual(wrong, secret);
});

test('the same secret shared twice gives unrelated shares (fresh coefficients)', () => {
  const secret = random(32);
  const a = splitSecret(secret, 3, [1, 2, 3], random);
  const b = splitSecret(secret, 3, [1, 2, 3], random);
  assert.notDeepEqual(a[0], b[0]);
});
