import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import { DEFAULT_RDP_ORDERS, RdpAccountant } from './rdp-accountant.ts';
import { rdpSampledGaussian } from './rdp-sampled-gaussian.ts';

const isBadConfig = (e: unknown) => e instanceof FlockError && e.code === 'bad-config';
const within = (got: number, want: number, rel: number, what: string) =>
  assert.ok(Math.abs(got - want) <= rel * want, `${what}: ε = ${got.toFixed(4)}, published ${want}`);

/** TF Privacy's compute_dp_sgd_privacy grid: [1 + x/10 for x in 1..99] + [12..63]. */
const TF_PRIVACY_ORDERS = [...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10), ...Array.from({ length: 52 }, (_, x) => 12 + x)];
/** dp_accounting RdpAccountant's integer default grid. */
const DP_ACCOUNTING_ORDERS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 20, 24, 28, 32, 48, 64, 128, 256, 512, 1024];

test('TFF "Differential privacy in TFF": 120 of 3383 clients, z = 1.2, 100 rounds is the smallest cohort with ε ≤ 2 at δ = 1e−5', () => {
  // The tutorial scales z = 0.01 × clients per round and calibrates with dp_accounting's RdpAccountant.
  for (const orders of [DEFAULT_RDP_ORDERS, DP_ACCOUNTING_ORDERS]) {
    const at = (clients: number) => {
      const acc = new RdpAccountant(orders);
      acc.compose(clients / 3383, clients * 0.01, 100);
      return acc.epsilon(1e-5).epsilon;
    };
    const e120 = at(120);
    within(e120, 1.99, 0.01, `120 clients (${orders.length} orders)`);
    assert.ok(e120 <= 2, `120 clients: ${e120}`);
    assert.ok(at(119) > 2, `119 clients: ${at(119)}`);
  }
});

test('TF Privacy MNIST tutorial table (classic conversion, N = 60000, batch 256, δ = 1e−5)', () => {
  const table: [number, number, number][] = [
    [1.1, 60, 3.01],
    [1.3, 15, 1.19],
    [0.7, 45, 7.1],
  ];
  for (const [z, epochs, published] of table) {
    const steps = Math.ceil((epochs * 60000) / 256); // compute_dp_sgd_privacy rounds steps up
    for (const orders of [TF_PRIVACY_ORDERS, DEFAULT_RDP_ORDERS]) {
      const acc = new RdpAccountant(orders);
      acc.compose(256 / 60000, z, steps);
      const { epsilon } = acc.epsilon(1e-5, 'classic');
      within(epsilon, published, 0.01, `z=${z}, ${epochs} epochs, ${orders.length} orders`);
      if (orders === TF_PRIVACY_ORDERS) assert.equal(epsilon.toFixed(2), published.toFixed(2), `z=${z}: rounds to the published value`);
      // the tighter conversion is strictly better
      assert.ok(acc.epsilon(1e-5).epsilon < epsilon);
    }
  }
});

test('default grid: ~150 orders > 1, sorted, covering fractional orders near 1 and integers to 512, frozen', () => {
  assert.ok(DEFAULT_RDP_ORDERS.length >= 140 && DEFAULT_RDP_ORDERS.length <= 180);
  for (let k = 1; k < DEFAULT_RDP_ORDERS.length; k++) assert.ok(DEFAULT_RDP_ORDERS[k] > DEFAULT_RDP_ORDERS[k - 1]);
  assert.ok(DEFAULT_RDP_ORDERS[0] > 1 && DEFAULT_RDP_ORDERS[0] < 1.1);
  assert.equal(DEFAULT_RDP_ORDERS[DEFAULT_RDP_ORDERS.length - 1], 512);
  for (const a of [...TF_PRIVACY_ORDERS, ...DP_ACCOUNTING_ORDERS.filter((a) => a <= 512)]) assert.ok(DEFAULT_RDP_ORDERS.includes(a), `missing ${a}`);
  assert.ok(Object.isFrozen(DEFAULT_RDP_ORDERS));
});

test('composition adds curves: steps, heterogeneous (q, z), order of composition irrelevant', () => {
  const orders = [1.5, 2, 3.5, 8, 32];
  const a = new RdpAccountant(orders);
  a.compose(0.01, 1.1, 10);
  a.compose(0.02, 0.9, 5);
  a.compose(0.01, 1.1); // default one step
  assert.equal(a.steps, 16);
  const b = new RdpAccountant(orders);
  b.compose(0.01, 1.1, 11);
  b.compose(0.02, 0.9, 5);
  const c = new RdpAccountant(orders);
  c.compose(0.02, 0.9, 5);
  for (let k = 0; k < 11; k++) c.compose(0.01, 1.1);
  const want = orders.map((al) => 11 * rdpSampledGaussian(0.01, 1.1, al) + 5 * rdpSampledGaussian(0.02, 0.9, al));
  for (const acc of [a, b, c]) {
    const got = acc.rdp();
    orders.forEach((al, k) => assert.ok(Math.abs(got[k] - want[k]) <= 1e-12 * want[k], `α=${al}`));
  }
  assert.ok(Math.abs(a.epsilon(1e-5).epsilon - c.epsilon(1e-5).epsilon) < 1e-12);
  // same q, different z (and back): each step gets its own curve
  const d = new RdpAccountant(orders);
  d.compose(0.01, 1.0);
  d.compose(0.01, 2.0);
  d.compose(0.02, 2.0);
  d.compose(0.01, 1.0);
  const dGot = d.rdp();
  orders.forEach((al, k) => {
    const w = 2 * rdpSampledGaussian(0.01, 1.0, al) + rdpSampledGaussian(0.01, 2.0, al) + rdpSampledGaussian(0.02, 2.0, al);
    assert.ok(Math.abs(dGot[k] - w) <= 1e-12 * w, `α=${al}`);
  });
  // zero steps: nothing changes, inputs still checked
  const before = a.toJSON();
  a.compose(0.5, 0.5, 0);
  assert.deepEqual(a.toJSON(), before);
  assert.throws(() => a.compose(2, 1, 0), isBadConfig);
});

test('monotone: more steps → more ε, more noise → less ε, larger q → more ε', () => {
  const eps = (q: number, z: number, steps: number) => {
    const acc = new RdpAccountant();
    acc.compose(q, z, steps);
    return acc.epsilon(1e-5).epsilon;
  };
  let prev = 0;
  for (const steps of [1, 10, 100, 1000]) {
    const e = eps(0.01, 1.1, steps);
    assert.ok(e > prev, `steps=${steps}`);
    prev = e;
  }
  assert.ok(eps(0.01, 1.0, 100) > eps(0.01, 1.2, 100));
  assert.ok(eps(0.01, 1.0, 100) < eps(0.02, 1.0, 100));
  assert.equal(new RdpAccountant().epsilon(1e-5).epsilon, 0);
  assert.equal(new RdpAccountant().steps, 0);
});

test('epsilonAfter previews one more composition without changing the accountant', () => {
  const acc = new RdpAccountant();
  acc.compose(0.01, 1.0, 50);
  const before = acc.toJSON();
  const preview = acc.epsilonAfter(0.01, 1.0, 25, 1e-5);
  assert.deepEqual(acc.toJSON(), before);
  acc.compose(0.01, 1.0, 25);
  assert.deepEqual(preview, acc.epsilon(1e-5));
  assert.deepEqual(acc.epsilonAfter(0.01, 1.0, 0, 1e-5, 'classic'), acc.epsilon(1e-5, 'classic'));
  assert.throws(() => acc.epsilonAfter(0.01, 1.0, 1.5, 1e-5), isBadConfig);
});

test('refuses a composition without privacy (z = 0, q > 0) rather than storing an unserialisable ∞', () => {
  const acc = new RdpAccountant();
  acc.compose(0.01, 1, 3);
  const before = acc.toJSON();
  assert.throws(() => acc.compose(0.01, 0, 1), (e: unknown) => isBadConfig(e) && /no differential privacy/.test((e as Error).message));
  assert.throws(() => acc.compose(0.01, 0, 0), isBadConfig);
  assert.throws(() => acc.epsilonAfter(0.01, 0, 1, 1e-5), isBadConfig);
  assert.deepEqual(acc.toJSON(), before);
  acc.compose(0, 0, 5); // nobody sampled: free, but counted as steps
  assert.equal(acc.steps, 8);
  assert.deepEqual(acc.toJSON().rdp, before.rdp);
  for (const steps of [-1, 1.5, NaN, Infinity]) assert.throws(() => acc.compose(0.01, 1, steps), isBadConfig, `steps=${steps}`);
});

test('toJSON / fromJSON round trip through a JSON string, clone is independent', () => {
  const acc = new RdpAccountant();
  acc.compose(120 / 3383, 1.2, 37);
  acc.compose(0.05, 2, 3);
  const back = RdpAccountant.fromJSON(JSON.parse(JSON.stringify(acc)));
  assert.deepEqual(back.toJSON(), acc.toJSON());
  assert.equal(back.steps, 40);
  assert.deepEqual(back.epsilon(1e-6), acc.epsilon(1e-6));
  const copy = acc.clone();
  copy.compose(0.05, 2, 1);
  assert.equal(acc.steps, 40);
  assert.equal(copy.steps, 41);
  assert.ok(copy.epsilon(1e-6).epsilon > acc.epsilon(1e-6).epsilon);
  // a curve handed to the constructor (steps unknown → 0)
  const given = new RdpAccountant([2, 3], [0.1, 0.2]);
  assert.deepEqual(given.toJSON(), { orders: [2, 3], rdp: [0.1, 0.2], steps: 0 });
});

test('fromJSON refuses malformed state with FlockError bad-config', () => {
  const good = { orders: [2, 3.5], rdp: [0.1, 0.3], steps: 4 };
  assert.doesNotThrow(() => RdpAccountant.fromJSON(good));
  const bad: unknown[] = [
    null, 42, 'x', [], {},
    { ...good, orders: [2] },
    { ...good, rdp: [0.1] },
    { ...good, orders: [] , rdp: [] },
    { ...good, orders: [1, 3.5] },
    { ...good, orders: [0.5, 3.5] },
    { ...good, orders: [2, '3.5'] },
    { ...good, rdp: [0.1, -0.3] },
    { ...good, rdp: [0.1, null] },
    { ...good, rdp: [0.1, Infinity] },
    { ...good, rdp: [0.1, NaN] },
    { ...good, rdp: 'nope' },
    { ...good, steps: -1 },
    { ...good, steps: 1.5 },
    { ...good, steps: '4' },
    { orders: good.orders, rdp: good.rdp },
  ];
  for (const j of bad) assert.throws(() => RdpAccountant.fromJSON(j), isBadConfig, JSON.stringify(j));
  assert.throws(() => new RdpAccountant([2, 3], [0.1]), isBadConfig);
  assert.throws(() => new RdpAccountant([]), isBadConfig);
});

test('ε from the accumulated curve is cheap: well under 1 ms per call over the default grid', () => {
  const acc = new RdpAccountant();
  acc.compose(120 / 3383, 1.2, 100);
  const n = 2000;
  const t0 = performance.now();
  for (let k = 0; k < n; k++) acc.epsilon(1e-5);
  const perCall = (performance.now() - t0) / n;
  assert.ok(perCall < 1, `${perCall} ms per ε`);
  // and a fresh (q, z) per-step curve is a few ms; a repeated one is a vector add
  const t1 = performance.now();
  acc.compose(0.02, 1.05);
  const fresh = performance.now() - t1;
  const t2 = performance.now();
  for (let k = 0; k < 100; k++) acc.compose(0.02, 1.05);
  const repeated = (performance.now() - t2) / 100;
  assert.ok(fresh < 100 && repeated < 1, `fresh ${fresh} ms, repeated ${repeated} ms`);
});
