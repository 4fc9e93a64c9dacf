import assert from 'node:assert/strict';
import { test } from 'node:test';
import { noiseMultiplierForEpsilon } from '../../shared/privacy/noise-for-epsilon.ts';
import { cohortForNoise, noiseThreshold, projectNoise } from './dp-projection.ts';

test('projectNoise: z from the accountant at q = m/N, σ/C = z/m', () => {
  const p = projectNoise({ population: 100_000, cohort: 1000, rounds: 60, epsilon: 2, delta: 1e-6 });
  assert.equal(p.samplingRate, 0.01);
  assert.equal(p.noiseMultiplier, noiseMultiplierForEpsilon({ q: 0.01, targetEpsilon: 2, steps: 60, delta: 1e-6 }));
  assert.equal(p.noiseStdOverClip, p.noiseMultiplier / 1000);
});

test('cohortForNoise: the smallest m whose σ/C is within the threshold (bisection), or none when q = 1 is not enough', () => {
  const o = { population: 20_000, rounds: 30, epsilon: 1, delta: 1e-6 };
  const c = cohortForNoise({ ...o, maxNoiseStdOverClip: 2e-3 });
  assert.ok(c);
  assert.ok(c.noiseStdOverClip <= 2e-3);
  assert.ok(projectNoise({ ...o, cohort: c.cohort - 1 }).noiseStdOverClip > 2e-3, `m − 1 = ${c.cohort - 1} is already within`);
  assert.equal(cohortForNoise({ ...o, maxNoiseStdOverClip: 1e-6 }), undefined);
});

test('noiseThreshold: the largest measured σ/C up to which every point stays within the loss', () => {
  const pts = [
    { noiseStdOverClip: 2e-3, hr10: 0.58 },
    { noiseStdOverClip: 1e-3, hr10: 0.6 },
    { noiseStdOverClip: 4e-3, hr10: 0.5 },
    { noiseStdOverClip: 3e-3, hr10: 0.59 },
    { noiseStdOverClip: 5e-3, hr10: 0.6 }, // beyond a failure: not counted
  ];
  assert.equal(noiseThreshold(pts, 0.61), 3e-3);
  assert.equal(noiseThreshold(pts, 0.61, 0.02), 1e-3);
  assert.equal(noiseThreshold([{ noiseStdOverClip: 1e-3, hr10: 0.4 }], 0.61), undefined);
});
