import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import { defaultDelta, planDp } from './dp-plan.ts';
import { epsilonForNoise } from './noise-for-epsilon.ts';
import { PrivacyBudget } from './privacy-budget.ts';

const isBadConfig = (re: RegExp) => (e: unknown) => e instanceof FlockError && e.code === 'bad-config' && re.test(e.message);

test('planDp: a target ε resolves to the smallest z whose rounds stay within it; a given z to the ε its rounds cost', () => {
  const byEps = planDp({ targetEpsilon: 2, delta: 1e-5, rounds: 100, samplingRate: 120 / 3383, population: 3383 });
  assert.equal(byEps.epsilonBudget, 2);
  assert.ok(Math.abs(byEps.noiseMultiplier - 1.2) < 0.02, `z = ${byEps.noiseMultiplier}`);
  assert.ok(Math.abs(byEps.expectedCohort - 120) < 1e-9);
  const byNoise = planDp({ noiseMultiplier: 1.2, delta: 1e-5, rounds: 100, samplingRate: 120 / 3383, population: 3383 });
  assert.equal(byNoise.epsilonBudget, epsilonForNoise({ q: 120 / 3383, noiseMultiplier: 1.2, steps: 100, delta: 1e-5 }));
  assert.equal(planDp({ noiseMultiplier: 1, rounds: 10, samplingRate: 0.1, population: 943 }).delta, defaultDelta(943));
  assert.ok(defaultDelta(943) < 1 / 943);
});

test('planDp refuses what it cannot honour, with the reason', () => {
  const ok = { rounds: 10, samplingRate: 0.5, population: 100 };
  assert.throws(() => planDp({ ...ok }), isBadConfig(/exactly one/));
  assert.throws(() => planDp({ ...ok, noiseMultiplier: 1, targetEpsilon: 2 }), isBadConfig(/exactly one/));
  assert.throws(() => planDp({ ...ok, noiseMultiplier: -1 }), isBadConfig(/noise multiplier/));
  assert.throws(() => planDp({ ...ok, noiseMultiplier: 1, samplingRate: 1.5 }), isBadConfig(/sampling rate/));
  assert.throws(() => planDp({ ...ok, noiseMultiplier: 1, delta: 1 }), isBadConfig(/δ/));
  assert.throws(() => planDp({ ...ok, noiseMultiplier: 1, rounds: 0 }), isBadConfig(/round budget/));
  assert.throws(() => planDp({ ...ok, noiseMultiplier: 1, population: 0 }), isBadConfig(/population/));
  assert.throws(() => planDp({ ...ok, noiseMultiplier: 1, samplingRate: 0.001 }), isBadConfig(/< 1 participant per round/));
});

test('PrivacyBudget: charges compose to the accountant\'s ε, the round that would exceed the budget is refused, the ledger resumes exactly', () => {
  const plan = planDp({ targetEpsilon: 3, delta: 1e-5, rounds: 1000, samplingRate: 0.2, population: 500 });
  // A budget sized for 1000 rounds at q = 0.2; rounds sampled at q = 0.5 spend it sooner.
  const budget = new PrivacyBudget(plan);
  assert.deepEqual(budget.spent, { epsilon: 0, delta: 1e-5, rounds: 0 });
  let charged = 0;
  while (budget.check(0.5).ok) {
    budget.charge(0.5);
    charged++;
    assert.ok(budget.spent.epsilon <= 3 * (1 + 1e-9));
  }
  assert.ok(charged > 1);
  const refused = budget.check(0.5);
  assert.equal(refused.ok, false);
  assert.ok(refused.epsilonAfter > 3, 'refused only because the next round would exceed the budget');
  assert.ok(Math.abs(budget.spent.epsilon - epsilonForNoise({ q: 0.5, noiseMultiplier: plan.noiseMultiplier, steps: charged, delta: 1e-5 })) < 1e-9);
  const resumed = new PrivacyBudget(plan, JSON.parse(JSON.stringify(budget.ledger())));
  assert.deepEqual(resumed.spent, budget.spent);
  assert.equal(resumed.check(0.5).ok, false);
});

test('PrivacyBudget: the round budget binds even when ε would allow more', () => {
  const plan = planDp({ noiseMultiplier: 50, delta: 1e-5, rounds: 3, samplingRate: 0.01, population: 10000 });
  const budget = new PrivacyBudget({ ...plan, epsilonBudget: 100 });
  for (let i = 0; i < 3; i++) budget.charge(0.01);
  const c = budget.check(0.01);
  assert.equal(c.ok, false);
  assert.match(c.ok ? '' : c.reason, /round budget of 3 rounds/);
  assert.equal(budget.exhausted, true);
});
