import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import { deltaFromRdp, epsilonFromRdp } from './rdp-to-dp.ts';

const isBadConfig = (e: unknown) => e instanceof FlockError && e.code === 'bad-config';

test('classic: min over orders of rdp + log(1/δ)/(α − 1), by hand', () => {
  const orders = [2, 4, 8];
  const rdp = [0.1, 0.5, 3];
  const d = 1e-5;
  const byOrder = orders.map((a, k) => rdp[k] + Math.log(1 / d) / (a - 1));
  const got = epsilonFromRdp(orders, rdp, d, 'classic');
  assert.equal(got.epsilon, Math.min(...byOrder));
  assert.equal(got.order, 4);
});

test('balle2020: rdp + log((α−1)/α) − (log δ + log α)/(α − 1), by hand; never above classic', () => {
  const orders = [1.5, 2, 4, 8, 32];
  const rdp = [0.05, 0.1, 0.5, 3, 20];
  const d = 1e-5;
  const byOrder = orders.map((a, k) => rdp[k] + Math.log((a - 1) / a) - (Math.log(d) + Math.log(a)) / (a - 1));
  const got = epsilonFromRdp(orders, rdp, d);
  assert.ok(Math.abs(got.epsilon - Math.min(...byOrder)) < 1e-12);
  assert.equal(got.order, orders[byOrder.indexOf(Math.min(...byOrder))]);
  for (const dd of [1e-3, 1e-5, 1e-9]) {
    assert.ok(epsilonFromRdp(orders, rdp, dd).epsilon < epsilonFromRdp(orders, rdp, dd, 'classic').epsilon);
  }
});

test('balle2020: clamped at 0, and 0 outright when δ² ≥ 1 − e^{−rdp} (the KL / total-variation bound)', () => {
  // tiny RDP: the KL shortcut applies at δ = 1e−3 (δ² = 1e−6 > 1 − e^{−1e−7})
  assert.deepEqual(epsilonFromRdp([2, 3], [1e-7, 2e-7], 1e-3), { epsilon: 0, order: 2 });
  // the formula itself negative (rdp 0.5 at α = 2, δ = 0.5: 0.5 + log ½ − log 1 < 0) but the KL
  // shortcut not applicable (δ² = 0.25 < 1 − e^{−0.5}): clamped
  assert.deepEqual(epsilonFromRdp([2], [0.5], 0.5), { epsilon: 0, order: 2 });
  // classic never reaches 0 on a finite grid
  assert.ok(epsilonFromRdp([2, 3], [1e-7, 2e-7], 1e-3, 'classic').epsilon > 3);
});

test('Infinity at an order only removes that order; all-Infinity gives ε = ∞', () => {
  assert.equal(epsilonFromRdp([2, 4], [Infinity, 0.5], 1e-5, 'classic').order, 4);
  assert.deepEqual(epsilonFromRdp([2, 4], [Infinity, Infinity], 1e-5), { epsilon: Infinity, order: 2 });
});

test('deltaFromRdp inverts epsilonFromRdp at the optimal order', () => {
  const orders = [1.5, 2, 3, 5, 8, 16, 32, 64];
  const rdp = orders.map((a) => a * 0.02);
  for (const conversion of ['classic', 'balle2020'] as const) {
    for (const d of [1e-3, 1e-6]) {
      const { epsilon } = epsilonFromRdp(orders, rdp, d, conversion);
      const back = deltaFromRdp(orders, rdp, epsilon, conversion);
      assert.ok(back.delta <= d * (1 + 1e-9), `${conversion} δ=${d}: ${back.delta}`);
      assert.ok(back.delta > d * 0.5, `${conversion} δ=${d}: ${back.delta}`);
      // a little less ε needs more δ
      assert.ok(deltaFromRdp(orders, rdp, epsilon * 0.9, conversion).delta > d);
    }
  }
  assert.equal(deltaFromRdp([2], [50], 0).delta, 1);
});

test('rejects malformed curves and parameters with FlockError bad-config', () => {
  assert.throws(() => epsilonFromRdp([], [], 1e-5), isBadConfig);
  assert.throws(() => epsilonFromRdp([2, 3], [0.1], 1e-5), isBadConfig);
  assert.throws(() => epsilonFromRdp([1, 3], [0.1, 0.2], 1e-5), isBadConfig);
  assert.throws(() => epsilonFromRdp([2, 3], [0.1, -0.2], 1e-5), isBadConfig);
  assert.throws(() => epsilonFromRdp([2, 3], [0.1, NaN], 1e-5), isBadConfig);
  for (const d of [0, 1, -1e-5, NaN]) assert.throws(() => epsilonFromRdp([2], [0.1], d), isBadConfig, `δ=${d}`);
  assert.throws(() => epsilonFromRdp([2], [0.1], 1e-5, 'tight' as never), isBadConfig);
  for (const e of [-1, NaN, Infinity]) assert.throws(() => deltaFromRdp([2], [0.1], e), isBadConfig, `ε=${e}`);
});
