import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import type { Socket } from 'socket.io-client';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import { EVENTS, ModelInfoResponseSchema, type RoundStartMessage } from '../../shared/protocol/messages.ts';
import { modelApiPath, weightsApiPath } from '../../shared/protocol/model-routes.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import { elementCount, type NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { quantizeWireTensors } from '../../shared/update/quantize-update.ts';
import { encodeUpdate, toWireTensors, type WireTensor } from '../../shared/update/tensor-codec.ts';
import { DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { startCoordinator, type RunningCoordinator } from '../server.ts';
import { joinAs, sendUpdate } from '../testing/test-participant.ts';

// A real coordinator over loopback whose rounds accept f32 and int8 only (--update-encodings f32,int8).
let coordinator: RunningCoordinator;
let dataDir: string;
let socket: Socket;
let announced: RoundStartMessage;
/** The served model's parameters, as the coordinator describes them (GET /api/models/mf). */
let spec: ModelSpec;

const weightsBytes = async (): Promise<Buffer> => Buffer.from(await (await fetch(`${coordinator.url}${weightsApiPath('mf', 'latest')}`)).arrayBuffer());

function wireDelta(): WireTensor[] {
  const rng = new SeededRandom(3);
  const out: NamedTensors = {};
  for (const p of spec.params.filter((q) => q.scope === 'global')) out[p.name] = new Float32Array(elementCount(p.shape)).map(() => rng.normal() * 0.01);
  return toWireTensors(spec, out);
}

const updateOf = (tensors: WireTensor[]) => encodeUpdate({ round: announced.round, baseVersion: announced.version, numExamples: 10, preClipNorm: 0.5, tensors });

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'flock-encodings-'));
  coordinator = await startCoordinator(
    {
      ...DEFAULT_SERVE_CONFIG, port: 0, dataDir, dim: 4, minClients: 1, roundDelayMs: 10, roundIntervalMs: 0, staticDir: path.join(dataDir, 'none'),
      round: { ...DEFAULT_SERVE_CONFIG.round, updateEncodings: ['f32', 'int8'] },
    },
    pino({ level: 'silent' }),
  );
  const first = new Promise<RoundStartMessage>((resolve) => {
    void joinAs(coordinator.url, 'mf', { beforeJoin: (s) => s.once(EVENTS.roundStart, resolve) }).then((j) => (socket = j.socket));
  });
  announced = await first;
  const info = ModelInfoResponseSchema.parse(await (await fetch(`${coordinator.url}${modelApiPath('mf')}`)).json());
  spec = { kind: 'mf', params: info.params.map((p) => ({ ...p, init: { kind: 'zeros' as const } })) };
});

after(async () => {
  socket?.disconnect();
  await coordinator.close();
  await rm(dataDir, { recursive: true, force: true });
});

test('the round announcement lists the accepted encodings; an encoding not offered is refused (malformed) and changes nothing; an offered one is folded in', async () => {
  assert.deepEqual(announced.config.updateEncodings, ['f32', 'int8']);
  const before = await weightsBytes();
  const f16 = quantizeWireTensors(wireDelta(), 'f16', 1, new SeededRandom(1));
  const refused = await sendUpdate(socket, updateOf(f16));
  assert.equal(refused.rejected?.code, 'malformed', JSON.stringify(refused));
  assert.match(refused.rejected!.message, /sent as f16; this round accepts f32, int8/);
  assert.deepEqual(await weightsBytes(), before);
  const newVersion = new Promise<{ version: number }>((resolve) => socket.once(EVENTS.modelVersion, resolve));
  const int8 = quantizeWireTensors(wireDelta(), 'int8', 1, new SeededRandom(1));
  const accepted = await sendUpdate(socket, updateOf(int8));
  assert.ok(accepted.ack, JSON.stringify(accepted));
  assert.equal((await newVersion).version, announced.version + 1);
  assert.notDeepEqual(await weightsBytes(), before);
});
