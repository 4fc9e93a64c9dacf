import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { applyServerUpdate } from './apply-server-update.ts';
import { createServerOptimizer } from './server-optimizer.ts';

const close = (a: ArrayLike<number>, b: number[], tol = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

test('sgd is applyServerUpdate: x + lr·Δ, other tensors copied', () => {
  const globals = { w: Float32Array.of(1, 2), b: Float32Array.of(7) };
  const delta = { w: Float32Array.of(0.5, -1) };
  const opt = createServerOptimizer({ kind: 'sgd', learningRate: 2 });
  const out = opt.step(globals, delta);
  close(out.w, [2, 0]);
  assert.deepEqual(out, applyServerUpdate(globals, delta, 2));
  assert.notEqual(out.b, globals.b);
  assert.deepEqual(out.b, globals.b);
  assert.deepEqual(Object.keys(opt.state()), ['step']);
});

test('momentum (FedAvgM): m = β·m + Δ, x = x + lr·m, by hand', () => {
  const opt = createServerOptimizer({ kind: 'momentum', learningRate: 1, momentum: 0.5 });
  let x: NamedTensors = { w: Float32Array.of(0, 10) };
  x = opt.step(x, { w: Float32Array.of(1, -2) }); // m = [1, -2]
  close(x.w, [1, 8]);
  x = opt.step(x, { w: Float32Array.of(1, 0) }); // m = [1.5, -1]
  close(x.w, [2.5, 7]);
  x = opt.step(x, { w: Float32Array.of(0, 0) }); // m = [0.75, -0.5]: keeps moving with no new delta
  close(x.w, [3.25, 6.5]);
  close(opt.state()['m/w'], [0.75, -0.5]);
  close(opt.state().step, [3]);
});

test('adam (FedAdam): m, v without bias correction, x += lr·m/(√v + τ), by hand', () => {
  const opt = createServerOptimizer({ kind: 'adam', learningRate: 1, momentum: 0.5, beta2: 0.75, epsilon: 0.5 });
  let x: NamedTensors = { w: Float32Array.of(0, 1) };
  // Δ = [2, -2]: m = [1, -1], v = [1, 1], step = ±1/1.5
  x = opt.step(x, { w: Float32Array.of(2, -2) });
  close(x.w, [2 / 3, 1 - 2 / 3]);
  // Δ = 0: m = [0.5, -0.5], v = [0.75, 0.75], step = ±0.5/(√0.75 + 0.5)
  x = opt.step(x, { w: Float32Array.of(0, 0) });
  const s = 0.5 / (Math.sqrt(0.75) + 0.5);
  close(x.w, [2 / 3 + s, 1 / 3 - s]);
  close(opt.state()['v/w'], [0.75, 0.75]);
});

test('adam with bias correction (Kingma & Ba): m/(1 − β1ᵗ), v/(1 − β2ᵗ), by hand', () => {
  const opt = createServerOptimizer({ kind: 'adam', learningRate: 1, momentum: 0.5, beta2: 0.75, epsilon: 0.5, biasCorrection: true });
  // t = 1, Δ = 2: m = 1 → m̂ = 2; v = 1 → v̂ = 4; step = 2 / (2 + 0.5) = 0.8
  let x: NamedTensors = opt.step({ w: Float32Array.of(0) }, { w: Float32Array.of(2) });
  close(x.w, [0.8]);
  // t = 2, Δ = 0: m = 0.5 → m̂ = 0.5/0.75; v = 0.75 → v̂ = 0.75/0.4375
  x = opt.step(x, { w: Float32Array.of(0) });
  close(x.w, [0.8 + (0.5 / 0.75) / (Math.sqrt(0.75 / 0.4375) + 0.5)]);
});

test('adam: τ bounds the step of tiny updates, and the default lr-sized first step is about lr·sign(Δ)', () => {
  const opt = createServerOptimizer({ kind: 'adam', learningRate: 0.01 });
  const x = opt.step({ w: Float32Array.of(0, 0, 0) }, { w: Float32Array.of(1, -1, 1e-6) });
  // β1 0.9, β2 0.99: m = 0.1Δ, √v = 0.1|Δ| → 0.01·0.1/(0.1 + 1e-3) ≈ 0.0099; tiny Δ: 0.01·1e-7/(1e-7 + 1e-3) ≈ 1e-6
  close(x.w, [0.01 * 0.1 / 0.101, -0.01 * 0.1 / 0.101, (0.01 * 1e-7) / (1e-7 + 1e-3)], 1e-9);
});

test('state round-trips through NamedTensors: a restored optimizer continues identically', () => {
  for (const kind of ['momentum', 'adam'] as const) {
    const a = createServerOptimizer({ kind, learningRate: 0.3 });
    let x: NamedTensors = { w: Float32Array.of(1, 2, 3), b: Float32Array.of(0.5) };
    x = a.step(x, { w: Float32Array.of(0.1, -0.2, 0.3), b: Float32Array.of(1) });
    const saved = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(a.state()).map(([k, v]) => [k, [...v]]))));
    const b = createServerOptimizer({ kind, learningRate: 0.3 });
    b.loadState(Object.fromEntries(Object.entries(saved).map(([k, v]) => [k, Float32Array.from(v as number[])])));
    const d = { w: Float32Array.of(-0.4, 0.2, 0), b: Float32Array.of(-1) };
    assert.deepEqual(b.step(x, d), a.step(x, d));
    assert.deepEqual(b.state(), a.state());
  }
});

test('tensors absent from the delta keep their value and get no state', () => {
  const opt = createServerOptimizer({ kind: 'adam', learningRate: 1 });
  const out = opt.step({ w: Float32Array.of(1), frozen: Float32Array.of(4, 5) }, { w: Float32Array.of(1) });
  assert.deepEqual(out.frozen, Float32Array.of(4, 5));
  assert.deepEqual(Object.keys(opt.state()).sort(), ['m/w', 'step', 'v/w']);
});

test('bad options, shapes and states are FlockErrors', () => {
  const bad = (f: () => unknown, code: string) => assert.throws(f, (e: unknown) => e instanceof FlockError && e.code === code);
  bad(() => createServerOptimizer({ kind: 'rmsprop' as 'sgd', learningRate: 1 }), 'bad-config');
  bad(() => createServerOptimizer({ kind: 'sgd', learningRate: 0 }), 'bad-config');
  bad(() => createServerOptimizer({ kind: 'momentum', learningRate: 1, momentum: 1 }), 'bad-config');
  bad(() => createServerOptimizer({ kind: 'adam', learningRate: 1, beta2: -0.1 }), 'bad-config');
  bad(() => createServerOptimizer({ kind: 'adam', learningRate: 1, epsilon: 0 }), 'bad-config');
  const opt = createServerOptimizer({ kind: 'momentum', learningRate: 1 });
  bad(() => opt.step({ w: Float32Array.of(1) }, { w: Float32Array.of(1, 2) }), 'wrong-shape');
  bad(() => opt.step({ w: Float32Array.of(1) }, { x: Float32Array.of(1) }), 'wrong-shape');
  bad(() => opt.loadState({ 'm/w': Float32Array.of(1) }), 'malformed');
  bad(() => opt.loadState({ step: Float32Array.of(1), 'v/w': Float32Array.of(1) }), 'malformed');
  bad(() => opt.loadState({ step: Float32Array.of(1), 'm/w': Float32Array.of(NaN) }), 'non-finite');
  opt.loadState({ step: Float32Array.of(2), 'm/w': Float32Array.of(1, 1) });
  bad(() => opt.step({ w: Float32Array.of(1) }, { w: Float32Array.of(1) }), 'wrong-shape');
  const adam = createServerOptimizer({ kind: 'adam', learningRate: 1 });
  bad(() => adam.loadState({ step: Float32Array.of(1), 'm/w': Float32Array.of(1) }), 'malformed');
});
