import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import { rdpSampledGaussian } from './rdp-sampled-gaussian.ts';

const relClose = (got: number, want: number, tol: number, what: string) =>
  assert.ok(Math.abs(got - want) <= tol * Math.abs(want), `${what}: ${got} vs ${want} (rel ${Math.abs(got - want) / Math.abs(want)})`);

/**
 * ε(α) = log E_{μ₀}[(μ/μ₀)^α]/(α − 1) by direct numerical integration at 40 digits (mpmath
 * quad), independent of the series: [q, z, α, ε(α)].
 */
const INTEGRATED: [number, number, number, number][] = [
  [120 / 3383, 1.2, 1.5, 0.0009258720644043827],
  [120 / 3383, 1.2, 8, 0.007747681387937574],
  [0.01, 0.7, 10.9, 6.052110271140886],
  [0.1, 5, 1.01, 0.00020529984549079604],
  [0.5, 0.7, 2.5, 1.4935461278373028],
  [0.5, 1.1, 64, 25.742131474976222],
  [0.9, 2, 32.5, 3.953838290776988],
  [0.0001, 0.7, 1.1, 3.6762557713547276e-8],
];

test('integer and fractional orders match direct 40-digit integration of the Rényi moment', () => {
  for (const [q, z, a, want] of INTEGRATED) relClose(rdpSampledGaussian(q, z, a), want, 1e-7, `q=${q} z=${z} α=${a}`);
});

test('exact special cases: q = 1 is the Gaussian mechanism α/(2z²), q = 0 is free, z = 0 is unbounded', () => {
  for (const a of [1.5, 2, 7.3, 64]) {
    assert.equal(rdpSampledGaussian(1, 1.3, a), a / (2 * 1.3 * 1.3));
    assert.equal(rdpSampledGaussian(0, 1.3, a), 0);
    assert.equal(rdpSampledGaussian(0, 0, a), 0);
    assert.equal(rdpSampledGaussian(0.01, 0, a), Infinity);
  }
  assert.equal(rdpSampledGaussian(0.01, 1e-200, 2), Infinity);
  // q → 1 approaches the unsampled value from below, at integer and fractional orders.
  for (const a of [3, 3.5]) {
    const near = rdpSampledGaussian(1 - 1e-9, 1.3, a);
    assert.ok(near <= a / (2 * 1.69) && near > 0.999 * (a / (2 * 1.69)), `α=${a}: ${near}`);
  }
});

test('α = 2 has the closed form log(1 + q²(e^{1/z²} − 1))', () => {
  for (const [q, z] of [[0.01, 1], [0.3, 0.8], [120 / 3383, 1.2]]) {
    relClose(rdpSampledGaussian(q, z, 2), Math.log1p(q * q * Math.expm1(1 / (z * z))), 1e-12, `q=${q} z=${z}`);
  }
});

test('the fractional series joins the integer binomial sum continuously at integer orders', () => {
  for (const [q, z] of [[120 / 3383, 1.2], [256 / 60000, 1.1], [0.5, 0.7], [0.9, 3], [0.001, 0.4]]) {
    for (const a of [2, 3, 10, 20]) {
      const at = rdpSampledGaussian(q, z, a);
      for (const off of [-1e-9, 1e-9]) relClose(rdpSampledGaussian(q, z, a + off), at, 1e-7, `q=${q} z=${z} α=${a}${off > 0 ? '+' : '−'}1e−9`);
      // and the curve is increasing in α through the integer
      assert.ok(rdpSampledGaussian(q, z, a - 0.05) < at && at < rdpSampledGaussian(q, z, a + 0.05), `q=${q} z=${z} α=${a}`);
    }
  }
});

test('monotone: more noise → less, higher sampling rate → more, higher order → more', () => {
  for (const a of [1.5, 4, 4.5, 32]) {
    assert.ok(rdpSampledGaussian(0.05, 1.0, a) > rdpSampledGaussian(0.05, 1.1, a));
    assert.ok(rdpSampledGaussian(0.05, 1.0, a) < rdpSampledGaussian(0.06, 1.0, a));
  }
  let prev = 0;
  for (let a = 1.1; a < 40; a += 0.7) {
    const v = rdpSampledGaussian(0.02, 0.9, a);
    assert.ok(v > prev, `α=${a}`);
    prev = v;
  }
});

test('stays finite and non-negative in hard corners (tiny q, tiny and huge z, large orders)', () => {
  for (const [q, z, a] of [[1e-9, 1, 1.01], [1e-9, 0.05, 512], [0.999999, 0.3, 10.5], [0.5, 1000, 1.3], [0.3, 0.1, 6.5]]) {
    const v = rdpSampledGaussian(q, z, a);
    assert.ok(Number.isFinite(v) && v >= 0, `q=${q} z=${z} α=${a}: ${v}`);
  }
  // q = 1e−12: the true value is ~1e−24, below the ~1e−16 absolute rounding of log A; it must
  // not come out negative (a negative RDP would be refused by the conversion and the accountant)
  for (const a of [1.05, 1.5, 2, 2.5, 10.5]) {
    const v = rdpSampledGaussian(1e-12, 1, a);
    assert.ok(v >= 0 && v < 1e-15, `α=${a}: ${v}`);
  }
});

test('rejects bad inputs with FlockError bad-config', () => {
  const bad: [number, number, number][] = [
    [-0.1, 1, 2], [1.1, 1, 2], [NaN, 1, 2], [0.1, -1, 2], [0.1, Infinity, 2], [0.1, NaN, 2],
    [0.1, 1, 1], [0.1, 1, 0.5], [0.1, 1, Infinity], [0.1, 1, NaN],
  ];
  for (const [q, z, a] of bad) {
    assert.throws(() => rdpSampledGaussian(q, z, a), (e: unknown) => e instanceof FlockError && e.code === 'bad-config', `q=${q} z=${z} α=${a}`);
  }
  assert.throws(() => rdpSampledGaussian('0.1' as unknown as number, 1, 2), FlockError);
});
