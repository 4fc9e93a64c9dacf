import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateSyntheticDataset } from '../../shared/data/synthetic-dataset.ts';
import { FlockError } from '../../shared/errors.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { researchSplit } from './simulation-data.ts';

const dataset = generateSyntheticDataset({ users: 24, items: 30, seed: 5, meanInteractionsPerUser: 10 });
const split = researchSplit(dataset);
const meanAgg = { combine: { kind: 'mean' }, weighting: { kind: 'uniform' }, rowNormalize: false } as const;
const plain: SimulationConfig = {
  dim: 4, seed: 3, rounds: 2, clientsPerRound: 1, localEpochs: 1, batchSize: 8, learningRate: 0.3, negatives: 3,
  l2: 1e-3, clipNorm: 0.5, serverLearningRate: 2, evalEvery: 0, trainer: 'typed-array', ...meanAgg,
};
const secure = (dropoutFraction: number, over: Partial<SimulationConfig> = {}): SimulationConfig => ({ ...plain, secureAggregation: { dropoutFraction }, ...over });

function maxAbsDiff(a: Record<string, Float32Array>, b: Record<string, Float32Array>): number {
  let m = 0;
  for (const k of Object.keys(a)) for (let i = 0; i < a[k].length; i++) m = Math.max(m, Math.abs(a[k][i] - b[k][i]));
  return m;
}

test('secure aggregation without dropouts trains the model the plain mean trains, within fixed-point precision', async () => {
  const p = await runInProcessSimulation(dataset, split, plain);
  const s = await runInProcessSimulation(dataset, split, secure(0));
  const d = maxAbsDiff(p.globals as Record<string, Float32Array>, s.globals as Record<string, Float32Array>);
  // per round the mean is off by < 1/scale = C·n/2^31 ≈ 6e−9, times the server lr 2, over 2 rounds (plus float32 rounding)
  assert.ok(d < 1e-5, `max |secure − plain| = ${d}`);
  assert.ok(d > 0, 'the sum went through the ring (stochastic rounding leaves a trace)');
  // only masked ring vectors went up: 4 bytes per coordinate per client, plus keys and shares
  const coords = 30 * 4 + 30;
  for (const m of s.rounds) assert.ok(m.bytesUploaded >= 24 * 4 * coords, `round ${m.round}: ${m.bytesUploaded} bytes`);
});

test('with DP, the noise on the unmasked sum is the plain DP release within fixed-point precision (same seeds, same noise)', async () => {
  const dp = { noiseMultiplier: 1.1 } as const;
  const p = await runInProcessSimulation(dataset, split, { ...plain, clientsPerRound: 0.5, dp });
  const s = await runInProcessSimulation(dataset, split, secure(0, { clientsPerRound: 0.5, dp }));
  assert.deepEqual(s.rounds.map((m) => m.epsilon), p.rounds.map((m) => m.epsilon));
  const d = maxAbsDiff(p.globals as Record<string, Float32Array>, s.globals as Record<string, Float32Array>);
  assert.ok(d < 1e-5, `max |secure − plain| = ${d}`);
  assert.ok(d > 0, 'the sum went through the ring');
});

test('participants vanishing after their masked input: the round still completes on the survivors\' sum', async () => {
  const p = await runInProcessSimulation(dataset, split, plain);
  const s = await runInProcessSimulation(dataset, split, secure(0.2));
  assert.equal(s.rounds.length, 2);
  // their inputs are in the sum (sent before vanishing): the same model as plain
  const d = maxAbsDiff(p.globals as Record<string, Float32Array>, s.globals as Record<string, Float32Array>);
  assert.ok(d < 1e-5, `max |secure − plain| = ${d}`);
  assert.ok(d > 0, 'the sum went through the ring');
});

test('robust rules, row normalisation, claimed-example weights, wire encodings and adaptive clipping are refused under secure aggregation', async () => {
  const refusals: Partial<SimulationConfig>[] = [
    { combine: { kind: 'centered-clipping' } },
    { combine: { kind: 'median' } },
    { weighting: { kind: 'examples-capped', cap: 8 } },
    { rowNormalize: true },
    { updateEncoding: 'f16' },
    { dp: { noiseMultiplier: 1, adaptiveClip: { targetQuantile: 0.5 } } as SimulationConfig['dp'] },
    { secureAggregation: { dropoutFraction: 0.6 } },
  ];
  for (const over of refusals) {
    await assert.rejects(runInProcessSimulation(dataset, split, secure(0, over)), (e) => e instanceof FlockError && e.code === 'bad-config', JSON.stringify(over));
  }
});
