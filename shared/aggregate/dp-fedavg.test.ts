import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import { secureGaussianNoise, seededGaussianNoise } from '../random/gaussian-noise.ts';
import { SeededRandom } from '../random/seeded-random.ts';
import type { AggregationSettings, CombineRule } from './aggregation-settings.ts';
import { updateNoiseMultiplier } from './adaptive-clipping.ts';
import { RoundAggregation, type RoundDp } from './round-aggregation.ts';

const spec: ModelSpec = {
  kind: 'test',
  params: [
    { name: 'emb', shape: [500, 8], scope: 'global', rowSparse: true, init: { kind: 'zeros' } },
    { name: 'bias', shape: [500], scope: 'global', init: { kind: 'zeros' } },
  ],
};
const dpSettings = (over: Partial<AggregationSettings> = {}): AggregationSettings => ({
  weighting: { kind: 'uniform' }, combine: { kind: 'mean' }, clipNorm: 2, rowNormalize: false, ...over,
});
const isBadConfig = (re: RegExp) => (e: unknown) => e instanceof FlockError && e.code === 'bad-config' && re.test(e.message);

/** n clients, each touching a few rows with a random update scaled to norm ≤ C. */
function clientUpdates(n: number, seed: number, clipNorm: number) {
  const rng = new SeededRandom(seed);
  return Array.from({ length: n }, () => {
    const emb = new Float32Array(500 * 8);
    const bias = new Float32Array(500);
    for (let k = 0; k < 5; k++) {
      const r = rng.int(500);
      for (let j = 0; j < 8; j++) emb[r * 8 + j] = rng.normal();
      bias[r] = rng.normal();
    }
    let sq = 0;
    for (const v of emb) sq += v * v;
    for (const v of bias) sq += v * v;
    const s = (clipNorm * rng.next()) / Math.sqrt(sq);
    for (let i = 0; i < emb.length; i++) emb[i] *= s;
    for (let i = 0; i < bias.length; i++) bias[i] *= s;
    return { emb, bias };
  });
}

test('DP-FedAvg: the released delta is (Σ Δ + N(0, (zC)²)) / m — its noise has standard deviation z·C/m, measured over many rounds', () => {
  const z = 1.3;
  const C = 2;
  const m = 40; // the fixed denominator, not the 25 that arrive
  for (const [name, noise] of [['seeded', seededGaussianNoise(11)], ['secure', secureGaussianNoise()]] as const) {
    let sq = 0;
    let sum = 0;
    let count = 0;
    for (let round = 0; round < 20; round++) {
      const updates = clientUpdates(25, round, C);
      const agg = new RoundAggregation(spec, dpSettings({ clipNorm: C }), { dp: { noiseMultiplier: z, expectedCohort: m, noise } });
      for (const u of updates) agg.addDelta(u, 1);
      const out = agg.result();
      assert.equal(agg.dpRelease()!.noiseStd, (z * C) / m);
      for (const p of ['emb', 'bias'] as const) {
        for (let i = 0; i < out[p].length; i++) {
          let exact = 0;
          for (const u of updates) exact += u[p][i];
          const e = out[p][i] - exact / m; // the sum is divided by m, not by the 25 that came
          sq += e * e;
          sum += e;
          count++;
        }
      }
    }
    const std = Math.sqrt(sq / count);
    // 90,000 samples: the standard error of the std estimate is ≈ 0.24 %; 2 % catches a
    // wrong multiplier (z_Δ vs z), a wrong denominator or a missing C.
    assert.ok(Math.abs(std / ((z * C) / m) - 1) < 0.02, `${name}: measured noise std ${std}, expected ${(z * C) / m}`);
    assert.ok(Math.abs(sum / count) < (4 * ((z * C) / m)) / Math.sqrt(count), `${name}: the noise is centred (mean ${sum / count})`);
  }
});

test('DP-FedAvg: every coordinate is noised, also embedding rows nobody touched, and the release is drawn once', () => {
  const agg = new RoundAggregation(spec, dpSettings(), { dp: { noiseMultiplier: 1, expectedCohort: 10, noise: seededGaussianNoise(3) } });
  agg.addDelta({ emb: { rows: Int32Array.of(4), data: new Float32Array(8).fill(0.1) }, bias: new Float32Array(500) }, 1, 0.5);
  const out = agg.result();
  assert.ok(out.emb.every((v) => v !== 0) && out.bias.every((v) => v !== 0));
  assert.equal(agg.result(), out);
  assert.throws(() => agg.addDelta({ emb: new Float32Array(4000), bias: new Float32Array(500) }, 1), (e: unknown) => e instanceof FlockError && e.code === 'late');
});

test('DP-FedAvg refuses what its sensitivity argument does not cover, with the reason', () => {
  const dp: RoundDp = { noiseMultiplier: 1, expectedCohort: 10, noise: seededGaussianNoise(1) };
  const make = (over: Partial<AggregationSettings>, d: Partial<RoundDp> = {}) => () => new RoundAggregation(spec, dpSettings(over), { dp: { ...dp, ...d } });
  for (const combine of [{ kind: 'median' }, { kind: 'trimmed-mean', trim: 0.1 }, { kind: 'centered-clipping' }] as CombineRule[]) {
    assert.throws(make({ combine }), isBadConfig(/needs the 'mean' combine rule/));
  }
  assert.throws(make({ weighting: { kind: 'examples-capped', cap: 8 } }), isBadConfig(/uniform' weighting/));
  assert.throws(make({ rowNormalize: true }), isBadConfig(/row normalisation off/));
  assert.throws(make({}, { noiseMultiplier: 0 }), isBadConfig(/noise multiplier/));
  assert.throws(make({}, { expectedCohort: 0 }), isBadConfig(/expected cohort/));
  assert.throws(make({}, { noiseMultiplier: 1, expectedCohort: 8, adaptiveClip: { targetQuantile: 0.5, learningRate: 0.2 } }), isBadConfig(/too small for count noise/));
  assert.doesNotThrow(make({}));
});

test('adaptive clipping: the split z_Δ = (z⁻² − (2σ_b)⁻²)^(−½) of Andrew et al., and no split without it', () => {
  assert.equal(updateNoiseMultiplier(1.1, undefined, 100), 1.1);
  // m = 100 → σ_b = 5: z_Δ = (1/1.21 − 1/100)^(−½)
  assert.ok(Math.abs(updateNoiseMultiplier(1.1, { targetQuantile: 0.5, learningRate: 0.2 }, 100) - (1 / 1.21 - 1 / 100) ** -0.5) < 1e-12);
});

test('adaptive clipping: the clip bound converges to the target quantile of the update norms', () => {
  // Norms uniform in [0, 4]: the median is 2, the 0.8-quantile 3.2. Start far off at C = 0.2.
  for (const [gamma, want] of [[0.5, 2], [0.8, 3.2]]) {
    let C = 0.2;
    const noise = seededGaussianNoise(5);
    const rng = new SeededRandom(9);
    const seen: number[] = [];
    for (let round = 0; round < 150; round++) {
      const agg = new RoundAggregation(spec, dpSettings({ clipNorm: C }), {
        dp: { noiseMultiplier: 0.5, expectedCohort: 200, noise, adaptiveClip: { targetQuantile: gamma, learningRate: 0.2 } },
      });
      for (let k = 0; k < 200; k++) {
        const norm = 4 * rng.next();
        const bias = new Float32Array(500);
        bias[0] = Math.min(norm, C);
        agg.addDelta({ emb: { rows: new Int32Array(0), data: new Float32Array(0) }, bias }, 1, norm);
      }
      agg.result();
      C = agg.dpRelease()!.nextClipNorm!;
      if (round >= 100) seen.push(C);
    }
    const mean = seen.reduce((a, b) => a + b, 0) / seen.length;
    assert.ok(Math.abs(mean - want) < 0.15 * want, `γ = ${gamma}: C settled at ${mean}, the quantile is ${want}`);
  }
});

test('DP-FedAvg: a round nobody contributed to still releases — the noise alone, with the same std', () => {
  const agg = new RoundAggregation(spec, dpSettings(), { dp: { noiseMultiplier: 2, expectedCohort: 4, noise: seededGaussianNoise(8) } });
  const out = agg.result();
  let sq = 0;
  for (const v of out.emb) sq += v * v;
  const std = Math.sqrt(sq / out.emb.length);
  assert.ok(Math.abs(std / ((2 * 2) / 4) - 1) < 0.05, `noise-only std ${std}`);
  assert.throws(() => new RoundAggregation(spec, dpSettings()).result(), (e: unknown) => e instanceof FlockError && e.code === 'robust-rule');
});

test('a client\'s preClipNorm claim is validated: NaN, ±Infinity and negative are refused and change nothing', async () => {
  const { encodeUpdate, decodeUpdate, toWireTensors } = await import('../update/tensor-codec.ts');
  const agg = new RoundAggregation(spec, dpSettings(), { dp: { noiseMultiplier: 0.5, expectedCohort: 40, noise: seededGaussianNoise(2), adaptiveClip: { targetQuantile: 0.5, learningRate: 0.2 } } });
  const tensors = toWireTensors(spec, { emb: new Float32Array(4000).fill(0.001), bias: new Float32Array(500) });
  for (const preClipNorm of [NaN, Infinity, -Infinity, -1]) {
    const update = decodeUpdate(encodeUpdate({ round: 1, baseVersion: 0, numExamples: 1, preClipNorm, tensors }));
    assert.throws(() => agg.add(update), (e: unknown) => e instanceof FlockError && e.code === 'malformed' && /preClipNorm/.test(e.message));
  }
  assert.equal(agg.count, 0);
  agg.add(decodeUpdate(encodeUpdate({ round: 1, baseVersion: 0, numExamples: 1, preClipNorm: 0.5, tensors })));
  assert.equal(agg.count, 1);
});
