/**
 * The coordinator's server optimizer over real sockets and real files: FedAvgM's
 * momentum is saved with every version and survives a restart, so the step after a
 * restart is the one an uninterrupted run would take.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { createModel } from '../../shared/model/model-registry.ts';
import { EVENTS, type RoundStartMessage } from '../../shared/protocol/messages.ts';
import { weightsApiPath } from '../../shared/protocol/model-routes.ts';
import { elementCount, type NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { decodeWeights, encodeUpdate, fromWireTensors, toWireTensors } from '../../shared/update/tensor-codec.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { joinAs } from '../testing/test-participant.ts';

const DIM = 4;
const spec = createModel({ kind: 'mf', numItems: 400, dim: DIM }).spec;
const delta: NamedTensors = Object.fromEntries(
  spec.params.filter((p) => p.scope === 'global').map((p) => [p.name, new Float32Array(elementCount(p.shape)).fill(1e-4)]),
);

/** Starts a coordinator, joins as one client, sends `delta` in one round, returns the new weights. */
async function oneRound(config: ServeConfig): Promise<{ before: NamedTensors; after: NamedTensors; logs: string[] }> {
  const logs: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void logs.push(line) });
  const c = await startCoordinator(config, log);
  const { socket } = await joinAs(c.url, 'mf', { eligible: false });
  const weights = async () => fromWireTensors(decodeWeights(new Uint8Array(await (await fetch(`${c.url}${weightsApiPath('mf', 'latest')}`)).arrayBuffer())).tensors);
  try {
    const announced = new Promise<RoundStartMessage>((resolve) => socket.once(EVENTS.roundStart, resolve));
    socket.emit(EVENTS.eligibility, { eligible: true });
    const round = await announced;
    const before = await weights();
    const published = new Promise((resolve) => socket.once(EVENTS.modelVersion, resolve));
    socket.emit(EVENTS.update, encodeUpdate({ round: round.round, baseVersion: round.version, numExamples: 1, preClipNorm: 0.01, tensors: toWireTensors(spec, delta) }));
    await published;
    return { before, after: await weights(), logs };
  } finally {
    socket.disconnect();
    await c.close();
  }
}

const step = (a: NamedTensors, b: NamedTensors) => b.itemEmbedding[0] - a.itemEmbedding[0];

test('FedAvgM momentum is checkpointed with each version and carries on after a restart', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-server-opt-'));
  const config: ServeConfig = {
    ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: DIM, minClients: 1, roundDelayMs: 10, roundIntervalMs: 0, maxRounds: 0,
    staticDir: path.join(dataDir, 'none'), rowNormalize: false, serverLearningRate: 1, serverOptimizer: { kind: 'momentum', momentum: 0.5 },
  };
  try {
    const first = await oneRound(config);
    // m = Δ, x₁ = x₀ + m
    assert.ok(Math.abs(step(first.before, first.after) - 1e-4) < 1e-7, `first step ${step(first.before, first.after)}`);
    const files = (await readdir(path.join(dataDir, 'mf', 'versions'))).filter((f) => f.endsWith('.flkw')).sort();
    assert.deepEqual(files, ['v000000.flkw', 'v000001.flkw', 'v000001.server.flkw']);
    const second = await oneRound(config); // a new process would do the same: everything comes from the data dir
    // m = 0.5·Δ + Δ, x₂ = x₁ + m: the momentum survived the restart
    assert.ok(Math.abs(step(second.before, second.after) - 1.5e-4) < 1e-7, `second step ${step(second.before, second.after)}`);
    assert.ok(!second.logs.some((l) => l.includes('moments start from zero')), 'the state was found');

    // Switching optimizer: the momentum state is not loaded into adam; said, and adam starts fresh.
    const third = await oneRound({ ...config, serverOptimizer: { kind: 'adam' } });
    assert.ok(third.logs.some((l) => l.includes('moments start from zero')));
    assert.ok(step(third.before, third.after) > 0);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
