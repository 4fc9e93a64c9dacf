import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import type { Socket } from 'socket.io-client';
import { createModel, type ModelKind } from '../../shared/model/model-registry.ts';
import {
  EVENTS,
  HealthResponseSchema,
  type HealthResponse,
  type RoundStartMessage,
} from '../../shared/protocol/messages.ts';
import { weightsApiPath } from '../../shared/protocol/model-routes.ts';
import { elementCount, type NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { encodeUpdate, toWireTensors, type WireTensor } from '../../shared/update/tensor-codec.ts';
import { DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { startCoordinator, type RunningCoordinator } from '../server.ts';
import { joinAs, sendUpdate } from '../testing/test-participant.ts';

let coordinator: RunningCoordinator;
let dataDir: string;
let socket: Socket;
let announced: RoundStartMessage;

const weightsBytes = async (kind: ModelKind = 'mf'): Promise<Buffer> =>
  Buffer.from(await (await fetch(`${coordinator.url}${weightsApiPath(kind, 'latest')}`)).arrayBuffer());
const health = async (url = coordinator.url): Promise<HealthResponse> => HealthResponseSchema.parse(await (await fetch(`${url}/api/health`)).json());
const version = async (kind: ModelKind = 'mf'): Promise<number> => (await health()).models[kind].version;

function nextEvent<T>(name: string): Promise<T> {
  return new Promise((resolve) => socket.once(name, resolve));
}

const send = (bytes: Uint8Array) => sendUpdate(socket, bytes);

const model = createModel({ kind: 'mf', numItems: 400, dim: 4 });
function smallDelta(scale = 0.01): NamedTensors {
  const out: NamedTensors = {};
  for (const p of model.spec.params.filter((q) => q.scope === 'global')) out[p.name] = new Float32Array(elementCount(p.shape)).fill(scale / 100);
  return out;
}
function update(over: Partial<{ round: number; baseVersion: number; tensors: WireTensor[] }> = {}): Uint8Array {
  return encodeUpdate({
    round: over.round ?? announced.round,
    baseVersion: over.baseVersion ?? announced.version,
    numExamples: 10,
    preClipNorm: 0.1,
    tensors: over.tensors ?? toWireTensors(model.spec, smallDelta()),
  });
}

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'flock-engine-'));
  coordinator = await startCoordinator(
    { ...DEFAULT_SERVE_CONFIG, port: 0, dataDir, dim: 4, minClients: 1, roundDelayMs: 10, roundIntervalMs: 0, staticDir: path.join(dataDir, 'none') },
    pino({ level: 'silent' }),
  );
  // The coordinator federates both models (the default); this test client joins the embedding model's rounds.
  ({ socket } = await joinAs(coordinator.url, 'mf'));
  announced = await nextEvent<RoundStartMessage>(EVENTS.roundStart);
});

after(async () => {
  socket.disconnect();
  await coordinator.close();
  await rm(dataDir, { recursive: true, force: true });
});

test('malformed updates get typed errors and leave the global model byte-identical', async () => {
  const before = await weightsBytes();
  const [emb, bias] = toWireTensors(model.spec, smallDelta());
  const nan = smallDelta();
  nan.itemBias[3] = Number.NaN;
  const big = smallDelta();
  big.itemEmbedding.fill(1); // ‖Δ‖ = sqrt(1600) = 40 > C = 1
  const cases: [string, Uint8Array][] = [
    ['wrong-shape', update({ tensors: [{ ...emb, shape: [399, 4], data: emb.data.slice(0, 399 * 4) }, bias] })],
    ['wrong-shape', update({ tensors: [emb] })],
    ['non-finite', update({ tensors: toWireTensors(model.spec, nan) })],
    ['over-bound', update({ tensors: toWireTensors(model.spec, big) })],
    ['wrong-round', update({ round: announced.round + 5 })],
    ['late', update({ round: announced.round - 1 })],
    ['wrong-version', update({ baseVersion: announced.version + 1 })],
    ['malformed', new Uint8Array([1, 2, 3, 4, 5])],
  ];
  for (const [code, bytes] of cases) {
    const r = await send(bytes);
    assert.equal(r.rejected?.code, code, `expected ${code}, got ${JSON.stringify(r)}`);
    assert.ok(r.rejected!.message.length > 0);
  }
  assert.deepEqual(await weightsBytes(), before);
  assert.equal(await version(), announced.version);
});

test('a valid update is acknowledged, aggregated and a duplicate is rejected; the other model is untouched', async () => {
  const before = await weightsBytes();
  const sequenceBefore = await weightsBytes('sasrec');
  const newVersion = nextEvent<{ version: number }>(EVENTS.modelVersion);
  const ok = await send(update());
  assert.ok(ok.ack, `expected ack, got ${JSON.stringify(ok)}`);
  assert.equal((await newVersion).version, announced.version + 1);
  assert.notDeepEqual(await weightsBytes(), before);
  const dup = await send(update());
  assert.ok(dup.rejected && ['late', 'duplicate'].includes(dup.rejected.code));
  // Each model has its own rounds and versions: nobody joined the sequence model's.
  assert.equal(await version('sasrec'), 0);
  assert.deepEqual(await weightsBytes('sasrec'), sequenceBefore);
});

test('a round that misses its quorum by the deadline closes without changing the model, and the next one opens', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'flock-quorum-'));
  const c = await startCoordinator(
    { ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir: dir, dim: 4, minClients: 1, roundDelayMs: 10, roundIntervalMs: 0, roundTimeoutMs: 300, staticDir: path.join(dir, 'none') },
    pino({ level: 'silent' }),
  );
  const { socket: s } = await joinAs(c.url, 'mf', { eligible: false });
  try {
    const starts: RoundStartMessage[] = [];
    const twoRounds = new Promise<void>((resolve) => s.on(EVENTS.roundStart, (m: RoundStartMessage) => starts.push(m) === 2 && resolve()));
    const closed = new Promise<{ outcome: string; newVersion: number | null }>((resolve) => s.once(EVENTS.roundClosed, resolve));
    s.emit(EVENTS.eligibility, { eligible: true }); // the round opens now; this participant stays silent
    const record = await closed;
    assert.equal(record.outcome, 'quorum-missed');
    assert.equal(record.newVersion, null);
    await twoRounds;
    assert.equal(starts[1].round, starts[0].round + 1);
    assert.equal(starts[1].version, starts[0].version);
    assert.deepEqual(Object.keys((await health(c.url)).models), ['mf']);
    assert.equal((await health(c.url)).models.mf.version, 0);
  } finally {
    s.disconnect();
    await c.close();
    await rm(dir, { recursive: true, force: true });
  }
});
