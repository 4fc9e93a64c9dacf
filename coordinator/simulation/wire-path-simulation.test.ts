import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runInProcessSimulation } from './in-process-simulation.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { loadSource, researchSplit } from './simulation-data.ts';

test('simulate --update-encoding: f32 over the wire equals the in-memory fold bit for bit; f16 and int8 stay close, and bytes shrink in order', async () => {
  const ds = await loadSource({ kind: 'synthetic', users: 200, items: 300, seed: 7 });
  const split = researchSplit(ds);
  const base: SimulationConfig = {
    dim: 8, seed: 1, rounds: 3, clientsPerRound: 1, localEpochs: 1, batchSize: 32, learningRate: 0.5, negatives: 4, l2: 0.01,
    clipNorm: 1, serverLearningRate: 30, rowNormalize: true, evalEvery: 0, trainer: 'typed-array', workers: 1,
  };
  const memory = await runInProcessSimulation(ds, split, base);
  const run = (updateEncoding: 'f32' | 'f16' | 'int8', updateRows: 'dense' | 'row-sparse') => runInProcessSimulation(ds, split, { ...base, updateEncoding, updateRows });
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
  const bytes = (r: Awaited<typeof memory>) => r.rounds.reduce((s, m) => s + m.bytesUploaded, 0) / r.rounds.reduce((s, m) => s + m.clients, 0);
  const f32Dense = await run('f32', 'dense');
  assert.deepEqual(f32Dense.globals, memory.globals);
  const f32 = await run('f32', 'row-sparse');
  assert.deepEqual(f32.globals, memory.globals);
  const f16 = await run('f16', 'row-sparse');
  const int8 = await run('int8', 'row-sparse');
  const scale = maxDiff(memory.globals.itemEmbedding, new Float32Array(memory.globals.itemEmbedding.length));
  const d16 = maxDiff(f16.globals.itemEmbedding, memory.globals.itemEmbedding);
  const d8 = maxDiff(int8.globals.itemEmbedding, memory.globals.itemEmbedding);
  // Quantised, so not equal; but within 0.1 % (f16) and 1 % (int8) of the weights' scale.
  assert.ok(d16 > 0 && d16 < scale * 1e-3, `f16 drift ${d16} vs scale ${scale}`);
  assert.ok(d8 > d16 && d8 < scale * 1e-2, `int8 drift ${d8} vs scale ${scale}`);
  const b = [bytes(f32Dense), bytes(f32), bytes(f16), bytes(int8)];
  assert.ok(b[0] > b[1] && b[1] > b[2] && b[2] > b[3], `bytes per update ${b}`);
  assert.equal(bytes(memory), b[0]); // the in-memory run counts one dense f32 update per client
});
