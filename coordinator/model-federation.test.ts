import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { io } from 'socket.io-client';
import { FlockError } from '../shared/errors.ts';
import { EVENTS, ModelsResponseSchema, PROTOCOL_VERSION } from '../shared/protocol/messages.ts';
import { modelApiPath, weightsApiPath } from '../shared/protocol/model-routes.ts';
import { decodeWeights } from '../shared/update/tensor-codec.ts';
import { DEFAULT_SERVE_CONFIG } from './serve-config.ts';
import { startCoordinator } from './server.ts';

const silent = pino({ level: 'silent' });
const config = (dataDir: string) => ({ ...DEFAULT_SERVE_CONFIG, port: 0, dataDir, dim: 4, staticDir: path.join(dataDir, 'none') });

test('one coordinator federates both models: separate folders, descriptors, weights and round settings', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'flock-federations-'));
  const c = await startCoordinator(config(dir), silent);
  try {
    // One folder per model, beside the coordinator's identity keys and operator token.
    assert.deepEqual((await readdir(dir)).sort(), ['identity', 'mf', 'operator-token', 'sasrec']);
    const models = ModelsResponseSchema.parse(await (await fetch(`${c.url}/api/models`)).json());
    assert.deepEqual(models.models.map((m) => m.model.kind), ['mf', 'sasrec']);
    // Per-model local learning rates (the sequence model needs a smaller one).
    assert.equal(models.models[0].round.learningRate, DEFAULT_SERVE_CONFIG.learningRate.mf);
    assert.equal(models.models[1].round.learningRate, DEFAULT_SERVE_CONFIG.learningRate.sasrec);
    for (const kind of ['mf', 'sasrec'] as const) {
      const res = await fetch(`${c.url}${weightsApiPath(kind, 0)}`);
      assert.equal(res.status, 200);
      assert.equal(decodeWeights(new Uint8Array(await res.arrayBuffer())).modelKind, kind);
      assert.match(res.headers.get('cache-control') ?? '', /immutable/);
    }
    assert.equal((await fetch(`${c.url}${weightsApiPath('mf', 'latest')}`)).headers.get('cache-control'), 'no-cache');
    const unknown = await fetch(`${c.url}/api/models/bert/weights/0`);
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { error: { message: string } }).error.message, /does not serve model 'bert' \(it serves mf, sasrec\)/);
  } finally {
    await c.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a model left out of --models is not served', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'flock-federations-'));
  const c = await startCoordinator({ ...config(dir), models: ['sasrec'] }, silent);
  try {
    assert.equal((await fetch(`${c.url}${modelApiPath('mf')}`)).status, 404);
    assert.equal((await fetch(`${c.url}${modelApiPath('sasrec')}`)).status, 200);
    assert.deepEqual((await readdir(dir)).filter((f) => f !== 'identity' && f !== 'operator-token'), ['sasrec']);
  } finally {
    await c.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a client of the old single-model protocol is told to reload, not left waiting', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'flock-federations-'));
  const c = await startCoordinator(config(dir), silent);
  const s = io(c.url, { transports: ['websocket'], reconnection: false });
  try {
    const err = new Promise<{ code: string; message: string }>((resolve) => s.once(EVENTS.protocolError, resolve));
    s.emit(EVENTS.join, { protocolVersion: PROTOCOL_VERSION - 1, clientId: 'old', backend: 'cpu', eligible: true });
    const e = await err;
    assert.equal(e.code, 'protocol-mismatch');
    assert.match(e.message, /\/models\/mf, \/models\/sasrec/);
  } finally {
    s.disconnect();
    await c.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad configurations are refused with typed errors and write nothing', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'flock-federations-'));
  try {
    await assert.rejects(startCoordinator({ ...config(dir), models: [] }, silent), (e) => e instanceof FlockError && e.code === 'bad-config');
    await assert.rejects(startCoordinator({ ...config(dir), models: ['mf', 'mf'] }, silent), /listed twice/);
    assert.deepEqual(await readdir(dir), []);
    // A data dir from before multi-model coordinators: refused with instructions, left as it was.
    await writeFile(path.join(dir, 'manifest.json'), '{}');
    await mkdir(path.join(dir, 'versions'));
    await assert.rejects(startCoordinator(config(dir), silent), /single-model layout.*move manifest\.json/);
    assert.deepEqual((await readdir(dir)).sort(), ['manifest.json', 'versions']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
