import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { createModel } from '../../shared/model/model-registry.ts';
import { EVENTS, HealthResponseSchema } from '../../shared/protocol/messages.ts';
import { weightsApiPath } from '../../shared/protocol/model-routes.ts';
import { elementCount, type NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { encodeUpdate, toWireTensors } from '../../shared/update/tensor-codec.ts';
import { DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { startCoordinator, type RunningCoordinator } from '../server.ts';
import { HonestBot, joinAs, nextEvent, waitFor } from '../testing/test-participant.ts';

const spec = createModel({ kind: 'mf', numItems: 400, dim: 4 }).spec;
const small: NamedTensors = Object.fromEntries(spec.params.filter((p) => p.scope === 'global').map((p) => [p.name, new Float32Array(elementCount(p.shape)).fill(1e-4)]));
const update = (round: number, baseVersion: number) => encodeUpdate({ round, baseVersion, numExamples: 5, preClipNorm: 0.01, tensors: toWireTensors(spec, small) });
const UPDATE_BYTES = update(1, 0).byteLength;

async function start(dataDir: string): Promise<RunningCoordinator> {
  return startCoordinator({ ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 4, minClients: 2, roundDelayMs: 10, roundIntervalMs: 0, staticDir: path.join(dataDir, 'none') }, pino({ level: 'silent' }));
}

/** The value of one series in Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

test('after real rounds, /metrics shows rounds, updates, bytes and participants moving; each coordinator counts only its own', async () => {
  const dirA = await mkdtemp(path.join(tmpdir(), 'flock-metrics-'));
  const dirB = await mkdtemp(path.join(tmpdir(), 'flock-metrics-'));
  const a = await start(dirA);
  const b = await start(dirB);
  const bots: HonestBot[] = [];
  try {
    const scrape = async (c: RunningCoordinator) => {
      const res = await fetch(`${c.url}/metrics`);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      return res.text();
    };
    const initial = await scrape(a);
    assert.equal(sample(initial, 'flock_rounds_total', { model: 'mf', outcome: 'aggregated' }), 0);
    assert.equal(sample(initial, 'flock_participants_connected', { model: 'mf' }), 0);

    bots.push(await HonestBot.join(a.url, 'mf', update), await HonestBot.join(a.url, 'mf', update));
    // A third participant without data: connected, not eligible; its unasked-for update is rejected.
    const idle = await joinAs(a.url, 'mf', { eligible: false });
    const rejected = nextEvent(idle.socket, EVENTS.updateRejected);
    idle.socket.emit(EVENTS.update, update(1, 0));
    await rejected;
    const health = async () => HealthResponseSchema.parse(await (await fetch(`${a.url}/api/health`)).json()).models.mf;
    await waitFor(async () => (await health()).version >= 2, 'two aggregated rounds');
    const weights = await (await fetch(`${a.url}${weightsApiPath('mf', 1)}`)).arrayBuffer();

    const m = await scrape(a);
    const value = (name: string, labels: Record<string, string> = {}) => {
      const v = sample(m, name, labels);
      assert.notEqual(v, undefined, `${name} ${JSON.stringify(labels)} missing`);
      return v!;
    };
    assert.ok(value('flock_rounds_total', { model: 'mf', outcome: 'aggregated' }) >= 2);
    assert.ok(value('flock_round_duration_seconds_count', { model: 'mf', outcome: 'aggregated' }) >= 2);
    assert.ok(value('flock_round_duration_seconds_sum', { model: 'mf', outcome: 'aggregated' }) > 0);
    assert.ok(value('flock_updates_accepted_total', { model: 'mf' }) >= 4, 'two bots × two rounds');
    assert.ok(value('flock_update_bytes_total', { model: 'mf', result: 'accepted' }) >= 4 * UPDATE_BYTES);
    const rejections = [...m.matchAll(/^flock_updates_rejected_total\{model="mf",code="([^"]+)"\} (\d+)/gm)];
    assert.ok(rejections.some(([, , n]) => Number(n) >= 1), `the idle participant's update counted as rejected: ${m.match(/flock_updates_rejected_total.*/g)}`);
    assert.ok(value('flock_update_bytes_total', { model: 'mf', result: 'rejected' }) >= UPDATE_BYTES);
    assert.equal(value('flock_participants_connected', { model: 'mf' }), 3);
    assert.equal(value('flock_participants_eligible', { model: 'mf' }), 2);
    assert.ok(value('flock_model_version', { model: 'mf' }) >= 2);
    assert.ok(value('flock_weights_bytes_served_total', { model: 'mf' }) >= weights.byteLength);
    assert.equal(value('flock_credentials_issued_total'), 3);
    assert.ok(value('flock_http_request_body_bytes_total') >= 3 * 2, 'the three credential requests\' bodies');
    assert.ok(value('flock_http_requests_total', { method: 'POST', status: '2xx' }) >= 3);
    assert.ok(value('flock_socket_bytes_total', { direction: 'in' }) >= 5 * UPDATE_BYTES);
    assert.ok(value('flock_socket_bytes_total', { direction: 'out' }) > 0);
    assert.ok(value('process_resident_memory_bytes') > 0, 'process metrics');

    const other = await scrape(b);
    assert.equal(sample(other, 'flock_rounds_total', { model: 'mf', outcome: 'aggregated' }), 0, 'the second coordinator saw no round');
    assert.equal(sample(other, 'flock_credentials_issued_total'), 0);
    idle.socket.close();
  } finally {
    for (const bot of bots) bot.close();
    await a.close();
    await b.close();
    await rm(dirA, { recursive: true, force: true });
    await rm(dirB, { recursive: true, force: true });
  }
});

test('an observer never stops a round: a failing metric is swallowed', async () => {
  const { CoordinatorMetrics } = await import('./coordinator-metrics.ts');
  const metrics = new CoordinatorMetrics();
  assert.doesNotThrow(() => metrics.roundClosed('mf', 'aggregated', Number.NaN));
  assert.doesNotThrow(() => metrics.updateRejected('mf', 'malformed', -1));
  (metrics as unknown as { rounds: { inc(): never } }).rounds.inc = () => {
    throw new Error('boom');
  };
  assert.doesNotThrow(() => metrics.roundClosed('mf', 'aggregated', 1));
});
