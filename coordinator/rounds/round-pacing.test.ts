/**
 * Round pacing over real sockets (round-pacing.ts): rounds open at most once per
 * --round-interval, never when no eligible participant has anything new, only among
 * those that have, and a selected participant that declines is not waited for.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { createModel } from '../../shared/model/model-registry.ts';
import { EVENTS, ModelInfoResponseSchema, RoundsResponseSchema, type RoundRecord } from '../../shared/protocol/messages.ts';
import { modelApiPath } from '../../shared/protocol/model-routes.ts';
import { elementCount, type NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { encodeUpdate, toWireTensors } from '../../shared/update/tensor-codec.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from '../serve-config.ts';
import { startCoordinator, type RunningCoordinator } from '../server.ts';
import { HonestBot, joinAs, waitFor } from '../testing/test-participant.ts';

/** A small valid update for the model the coordinator serves (its descriptor, so any table it adds is included). */
async function updater(c: RunningCoordinator): Promise<(round: number, baseVersion: number) => Uint8Array> {
  const info = ModelInfoResponseSchema.parse(await (await fetch(`${c.url}${modelApiPath('mf')}`)).json());
  const spec = createModel(info.model).spec;
  const small: NamedTensors = Object.fromEntries(spec.params.filter((p) => p.scope === 'global').map((p) => [p.name, new Float32Array(elementCount(p.shape)).fill(1e-5)]));
  return (round, baseVersion) => encodeUpdate({ round, baseVersion, numExamples: 5, preClipNorm: 0.01, tensors: toWireTensors(spec, small) });
}

/** A coordinator whose log lines are kept (parsed) for the test to read. */
async function withCoordinator(over: Partial<ServeConfig>, fn: (c: RunningCoordinator, logs: Record<string, unknown>[]) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-pacing-'));
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const c = await startCoordinator(
    { ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 4, minClients: 2, roundDelayMs: 10, staticDir: path.join(dataDir, 'none'), ...over },
    pino({ level: 'info' }, sink),
  );
  try {
    await fn(c, logs);
  } finally {
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const rounds = async (c: RunningCoordinator): Promise<RoundRecord[]> => RoundsResponseSchema.parse(await (await fetch(`${c.url}${modelApiPath('mf')}/rounds?limit=1000`)).json()).rounds;

test('rounds open at most once per --round-interval, opening to opening, even when every participant answers at once', async () => {
  const INTERVAL = 400;
  await withCoordinator({ roundIntervalMs: INTERVAL }, async (c) => {
    const update = await updater(c);
    const bots = [await HonestBot.join(c.url, 'mf', update), await HonestBot.join(c.url, 'mf', update)];
    try {
      await waitFor(async () => (await rounds(c)).filter((r) => r.outcome === 'aggregated').length >= 4, 'four aggregated rounds', 60_000, 100);
      const opened = (await rounds(c)).map((r) => r.startedAt).sort((a, b) => a - b);
      // Each round closes within milliseconds (both bots answer at once): only the interval keeps them apart.
      for (let i = 1; i < opened.length; i++) {
        assert.ok(opened[i] - opened[i - 1] >= INTERVAL, `round ${i + 1} opened ${opened[i] - opened[i - 1]} ms after round ${i}, interval ${INTERVAL} ms`);
      }
    } finally {
      for (const b of bots) b.close();
    }
  });
});

test('no round opens while no eligible participant has anything new (and the log says why); one with new data opens one, among those that have', async () => {
  await withCoordinator({ roundIntervalMs: 0 }, async (c, logs) => {
    const announced = new Map<string, number>();
    const join = async (name: string) => {
      // Up to date from its join on: eligible, nothing new since its last contribution. (Saying so
      // in a later eligibility message would leave a window in which a round could open for it.)
      return joinAs(c.url, 'mf', { hasNewData: false, beforeJoin: (s) => s.on(EVENTS.roundStart, () => announced.set(name, (announced.get(name) ?? 0) + 1)) });
    };
    const a = await join('a');
    const b = await join('b');
    try {
      await waitFor(() => logs.some((l) => l.hold === 'nothing-new'), 'the coordinator to log why no round opened');
      await new Promise((r) => setTimeout(r, 500)); // many times the 10 ms round delay
      assert.equal((await rounds(c)).length, 0, 'a round opened although nobody had anything new');
      assert.equal(announced.size, 0);
      assert.match(String(logs.find((l) => l.hold === 'nothing-new')?.msg), /no eligible participant has anything new/);

      a.socket.emit(EVENTS.eligibility, { eligible: true, hasNewData: true });
      await waitFor(() => announced.has('a'), 'a round for the participant with new data');
      assert.equal(announced.get('b'), undefined, 'the participant with nothing new was selected');
    } finally {
      a.socket.close();
      b.socket.close();
    }
  });
});

test('a selected participant that declines (eligible: false) is not waited for: the round closes on the others', async () => {
  // A deadline far away and a long grace: only the decline can end the round early.
  await withCoordinator({ roundIntervalMs: 0, roundTimeoutMs: 600_000, stragglerGraceMs: 600_000 }, async (c) => {
    const bot = await HonestBot.join(c.url, 'mf', await updater(c));
    const decliner = await joinAs(c.url, 'mf', { beforeJoin: (s) => s.on(EVENTS.roundStart, () => s.emit(EVENTS.eligibility, { eligible: false, hasNewData: true })) });
    try {
      await waitFor(async () => (await rounds(c)).length >= 1, 'the first round to close', 60_000, 100);
      const [first] = await rounds(c);
      assert.equal(first.selected, 2);
      assert.equal(first.received, 1);
      assert.equal(first.closedBy, 'nobody-left');
      assert.equal(first.outcome, 'aggregated');
    } finally {
      bot.close();
      decliner.socket.close();
    }
  });
});
