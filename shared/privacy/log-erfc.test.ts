import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logErfc } from './log-erfc.ts';

/** log erfc(x) at 40 significant digits (mpmath), rounded to doubles. */
const REFERENCE: [number, number][] = [
  [-3, 0.6931361352504468],
  [-1, 0.6112323176780705],
  [-0.25, 0.24398594388138442],
  [0.5, -0.7350111298370844],
  [1.9999, -5.3644994577735305],
  [2, -5.364941264616638],
  [3.5, -14.112437402148174],
  [10, -102.87988902484489],
  [40, -1604.2615566532736],
];

test('log erfc matches 40-digit references on both sides of the series/fraction switch and far in the tail', () => {
  for (const [x, want] of REFERENCE) {
    const got = logErfc(x);
    assert.ok(Math.abs(got - want) <= 1e-14 * Math.abs(want), `logErfc(${x}) = ${got}, want ${want}`);
  }
});

test('log erfc limits: 0 at 0, log 2 at −∞, −∞ at +∞, −x² asymptotics where erfc underflows', () => {
  assert.ok(logErfc(0) === 0);
  assert.equal(logErfc(-Infinity), Math.LN2);
  assert.equal(logErfc(-50), Math.LN2);
  assert.equal(logErfc(Infinity), -Infinity);
  // erfc(1e3) ≈ 1e−434283 underflows a double; its log does not.
  const x = 1e3;
  const asymptotic = -x * x - Math.log(x) - 0.5 * Math.log(Math.PI) - 1 / (2 * x * x);
  assert.ok(Math.abs(logErfc(x) - asymptotic) < 1e-9);
  assert.ok(Number.isNaN(logErfc(NaN)));
});

test('log erfc is continuous and decreasing across x = ±2', () => {
  for (const edge of [-2, 2]) {
    const below = logErfc(edge - 1e-12);
    const at = logErfc(edge);
    assert.ok(Math.abs(below - at) < 1e-11, `jump at ${edge}: ${below} vs ${at}`);
    assert.ok(below >= at);
  }
  let prev = Infinity;
  for (let x = -6; x <= 6; x += 0.01) {
    const v = logErfc(x);
    assert.ok(v <= prev, `not decreasing at ${x}`);
    prev = v;
  }
});
