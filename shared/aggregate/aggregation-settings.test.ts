import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import {
  DEFAULT_COMBINE,
  DEFAULT_WEIGHTING,
  describeAggregation,
  formatCombine,
  formatWeighting,
  parseCombine,
  parseWeighting,
} from './aggregation-settings.ts';

const badConfig = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof FlockError && e.code === 'bad-config' && re.test(e.message));

test('parseWeighting: uniform and examples-capped:K; anything else is bad-config with the accepted forms', () => {
  assert.deepEqual(parseWeighting('uniform'), { kind: 'uniform' });
  assert.deepEqual(parseWeighting('examples-capped:64'), { kind: 'examples-capped', cap: 64 });
  for (const s of ['', 'examples', 'examples-capped', 'examples-capped:', 'examples-capped:0', 'examples-capped:-3', 'examples-capped:x', 'uniform:2', 'examples-capped:4:5']) {
    badConfig(() => parseWeighting(s), /uniform.*examples-capped:K/);
  }
});

test('parseCombine: every rule with its arguments and their limits', () => {
  assert.deepEqual(parseCombine('mean'), { kind: 'mean' });
  assert.deepEqual(parseCombine('median'), { kind: 'median' });
  assert.deepEqual(parseCombine('trimmed-mean:0.1'), { kind: 'trimmed-mean', trim: 0.1 });
  assert.deepEqual(parseCombine('centered-clipping'), { kind: 'centered-clipping' });
  assert.deepEqual(parseCombine('centered-clipping:0.5'), { kind: 'centered-clipping', radius: 0.5 });
  assert.deepEqual(parseCombine('centered-clipping:0.5:4'), { kind: 'centered-clipping', radius: 0.5, iterations: 4 });
  assert.deepEqual(parseCombine('centered-clipping::4'), { kind: 'centered-clipping', iterations: 4 });
  badConfig(() => parseCombine('trimmed-mean:0.5'), /0 ≤ β < 0.5/);
  badConfig(() => parseCombine('trimmed-mean'), /trimmed-mean:β/);
  badConfig(() => parseCombine('centered-clipping:-1'), /radius/);
  badConfig(() => parseCombine('centered-clipping:1:0'), /iterations/);
  badConfig(() => parseCombine('krum'), /mean, trimmed-mean:β .*median.*centered-clipping/);
  badConfig(() => parseCombine('median:1'), /mean, trimmed-mean/);
});

test('format ∘ parse is the identity; the defaults bound every share and describe themselves', () => {
  for (const s of ['mean', 'median', 'trimmed-mean:0.2', 'centered-clipping', 'centered-clipping:0.3', 'centered-clipping:0.3:2', 'centered-clipping::2']) {
    assert.equal(formatCombine(parseCombine(s)), s);
  }
  for (const s of ['uniform', 'examples-capped:64']) assert.equal(formatWeighting(parseWeighting(s)), s);
  assert.notEqual(DEFAULT_WEIGHTING.kind === 'examples-capped' && DEFAULT_WEIGHTING.cap >= 1e7, true);
  const line = describeAggregation({ weighting: DEFAULT_WEIGHTING, combine: DEFAULT_COMBINE, clipNorm: 1, rowNormalize: true });
  assert.match(line, /clip ‖Δ‖₂ ≤ 1/);
  assert.ok(!line.includes('\n'));
  assert.match(describeAggregation({ weighting: { kind: 'uniform' }, combine: { kind: 'centered-clipping' }, clipNorm: 2, rowNormalize: false }), /weight 1 .*radius 0.5 × clip = 1, 3 iterations/);
});
