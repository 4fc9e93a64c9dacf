import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import { epsilonForNoise, noiseMultiplierForEpsilon } from './noise-for-epsilon.ts';
import { RdpAccountant } from './rdp-accountant.ts';

const isBadConfig = (e: unknown) => e instanceof FlockError && e.code === 'bad-config';
const Q = 120 / 3383;

test('epsilonForNoise is the accountant after `steps` compositions', () => {
  const acc = new RdpAccountant();
  acc.compose(Q, 1.2, 100);
  assert.equal(epsilonForNoise({ q: Q, noiseMultiplier: 1.2, steps: 100, delta: 1e-5 }), acc.epsilon(1e-5).epsilon);
  assert.equal(
    epsilonForNoise({ q: Q, noiseMultiplier: 1.2, steps: 100, delta: 1e-5, conversion: 'classic' }),
    acc.epsilon(1e-5, 'classic').epsilon,
  );
  assert.equal(epsilonForNoise({ q: Q, noiseMultiplier: 0, steps: 1, delta: 1e-5 }), Infinity);
  assert.equal(epsilonForNoise({ q: Q, noiseMultiplier: 0, steps: 0, delta: 1e-5 }), 0);
});

test('TFF cohort: the noise for ε(120 clients, z = 1.2, 100 rounds) is z = 1.2; round trip at the boundary', () => {
  const target = epsilonForNoise({ q: Q, noiseMultiplier: 1.2, steps: 100, delta: 1e-5 });
  assert.ok(target > 1.97 && target < 2.01, `${target}`);
  const z = noiseMultiplierForEpsilon({ q: Q, steps: 100, targetEpsilon: target, delta: 1e-5 });
  assert.ok(Math.abs(z - 1.2) <= 1e-4 * 1.2, `z = ${z}`);
  assert.ok(epsilonForNoise({ q: Q, noiseMultiplier: z, steps: 100, delta: 1e-5 }) <= target);
  assert.ok(epsilonForNoise({ q: Q, noiseMultiplier: 0.99 * z, steps: 100, delta: 1e-5 }) > target);
  // and for a round target: smallest z with ε ≤ 2 lies between 1.19·(120/119)… and 1.2
  const z2 = noiseMultiplierForEpsilon({ q: Q, steps: 100, targetEpsilon: 2, delta: 1e-5 });
  assert.ok(z2 < 1.2 && epsilonForNoise({ q: Q, noiseMultiplier: z2, steps: 100, delta: 1e-5 }) <= 2);
  assert.ok(epsilonForNoise({ q: Q, noiseMultiplier: z2 * (1 - 1e-4), steps: 100, delta: 1e-5 }) > 2);
});

test('TF Privacy tutorial, inverted: ε = 3.01 (classic, 60 epochs) needs z ≈ 1.1', () => {
  const z = noiseMultiplierForEpsilon({ q: 256 / 60000, steps: 14063, targetEpsilon: 3.01, delta: 1e-5, conversion: 'classic' });
  assert.ok(Math.abs(z - 1.1) < 0.01, `z = ${z}`);
  assert.ok(epsilonForNoise({ q: 256 / 60000, noiseMultiplier: z, steps: 14063, delta: 1e-5, conversion: 'classic' }) <= 3.01);
});

test('monotone in the target and the run length; q = 1 is the plain Gaussian mechanism', () => {
  const base = { q: 0.01, steps: 1000, delta: 1e-5 };
  const z1 = noiseMultiplierForEpsilon({ ...base, targetEpsilon: 1 });
  const z4 = noiseMultiplierForEpsilon({ ...base, targetEpsilon: 4 });
  const zLong = noiseMultiplierForEpsilon({ ...base, steps: 4000, targetEpsilon: 1 });
  assert.ok(z1 > z4 && zLong > z1, `${z1} ${z4} ${zLong}`);
  // one unsampled Gaussian step under the classic conversion: ε(z) = min_α α/(2z²) + log(1/δ)/(α − 1)
  const z = noiseMultiplierForEpsilon({ q: 1, steps: 1, targetEpsilon: 1, delta: 1e-5, conversion: 'classic', orders: [5, 10, 20, 40] });
  const eps = Math.min(...[5, 10, 20, 40].map((a) => a / (2 * z * z) + Math.log(1e5) / (a - 1)));
  assert.ok(eps <= 1 && eps > 1 - 1e-5, `${eps}`);
});

test('refuses invalid or unreachable requests with a clear FlockError bad-config', () => {
  const base = { q: 0.01, steps: 100, targetEpsilon: 1, delta: 1e-5 };
  const bad = [
    { ...base, q: 0 }, { ...base, q: 1.5 }, { ...base, q: NaN },
    { ...base, steps: 0 }, { ...base, steps: 2.5 },
    { ...base, targetEpsilon: 0 }, { ...base, targetEpsilon: -1 }, { ...base, targetEpsilon: Infinity },
    { ...base, delta: 0 }, { ...base, delta: 1 },
    { ...base, conversion: 'tight' as never },
    { ...base, orders: [] }, { ...base, orders: [1, 2] },
  ];
  for (const o of bad) assert.throws(() => noiseMultiplierForEpsilon(o), isBadConfig, JSON.stringify(o));
  // classic cannot certify ε below log(1/δ)/(α_max − 1), whatever the noise
  assert.throws(
    () => noiseMultiplierForEpsilon({ ...base, targetEpsilon: 0.01, conversion: 'classic' }),
    (e: unknown) => isBadConfig(e) && /unreachable/.test((e as Error).message) && /0\.02253/.test((e as Error).message),
  );
  // balle2020 reaches any ε > 0
  const z = noiseMultiplierForEpsilon({ ...base, targetEpsilon: 0.01 });
  assert.ok(z > 10 && epsilonForNoise({ ...base, noiseMultiplier: z }) <= 0.01, `z = ${z}`);
});
