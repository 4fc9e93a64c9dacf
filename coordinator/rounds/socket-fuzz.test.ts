/**
 * Property-based fuzz of every client event over real socket.io (fast-check): 10,000
 * generated messages — arbitrary values, near-valid joins with stray or wrong fields,
 * random bytes, valid updates with flipped bytes, truncations, wrong rounds and versions,
 * unknown events — from many sockets while honest participants keep sending valid
 * updates. Must hold: the coordinator never crashes, rounds keep closing, and the model
 * changes only through accepted updates (the aggregated rounds' `received` counts equal
 * the acknowledgements handed out, and only aggregated rounds made versions).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import type { Socket } from 'socket.io-client';
import { createModel } from '../../shared/model/model-registry.ts';
import { EVENTS, HealthResponseSchema, PROTOCOL_VERSION, RoundsResponseSchema, type RoundStartMessage } from '../../shared/protocol/messages.ts';
import { modelApiPath } from '../../shared/protocol/model-routes.ts';
import { elementCount, type NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { encodeUpdate, toWireTensors } from '../../shared/update/tensor-codec.ts';
import { DEFAULT_SERVE_CONFIG } from '../serve-config.ts';
import { startCoordinator } from '../server.ts';
import { connectSocket, HonestBot, issueCredential, waitFor } from '../testing/test-participant.ts';

const MESSAGES = 10_000;
const FUZZERS = 8;
const spec = createModel({ kind: 'mf', numItems: 400, dim: 4 }).spec;
const small: NamedTensors = Object.fromEntries(spec.params.filter((p) => p.scope === 'global').map((p) => [p.name, new Float32Array(elementCount(p.shape)).fill(1e-4)]));
const validUpdate = (round: number, baseVersion: number, numExamples = 5) => encodeUpdate({ round, baseVersion, numExamples, preClipNorm: 0.01, tensors: toWireTensors(spec, small) });

/** What the fuzzers know of the current round (from their own announcements), to aim near-valid updates at it. */
const current = { round: 1, version: 0 };

/** `args` is built at send time when it is a function, so near-valid updates aim at the round open then. */
type Message = { event: string; args: unknown[] | (() => unknown[]) };

const nearValidJoin = fc.record(
  {
    protocolVersion: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.integer(), fc.double(), fc.string()),
    backend: fc.oneof(fc.constantFrom('webgpu', 'webgl', 'wasm', 'cpu'), fc.string({ maxLength: 20 })),
    eligible: fc.oneof(fc.boolean(), fc.anything()),
    clientId: fc.string({ maxLength: 80 }),
    backendReason: fc.string({ maxLength: 600 }),
  },
  { requiredKeys: [] },
);

const mutatedUpdate = fc
  .record({
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
    truncate: fc.option(fc.nat(), { nil: undefined }),
    roundShift: fc.integer({ min: -2, max: 2 }),
    versionShift: fc.integer({ min: -1, max: 1 }),
    numExamples: fc.oneof(fc.constant(5), fc.constant(1e7), fc.constant(0), fc.double()),
  })
  .map(({ flips, truncate, roundShift, versionShift, numExamples }) => () => {
    const bytes = validUpdate(Math.max(0, current.round + roundShift), Math.max(0, current.version + versionShift), Number.isFinite(numExamples) ? numExamples : 1);
    for (const [at, v] of flips) bytes[at % bytes.length] = v;
    return truncate === undefined ? bytes : bytes.subarray(0, truncate % (bytes.length + 1));
  });

const message: fc.Arbitrary<Message> = fc.oneof(
  { weight: 3, arbitrary: nearValidJoin.map((j) => ({ event: EVENTS.join, args: [j] })) },
  { weight: 2, arbitrary: fc.anything().map((a) => ({ event: EVENTS.eligibility, args: [a] })) },
  { weight: 2, arbitrary: fc.boolean().map((eligible) => ({ event: EVENTS.eligibility, args: [{ eligible }] })) },
  { weight: 1, arbitrary: fc.constant({ event: EVENTS.update, args: () => [validUpdate(current.round, current.version)] }) },
  { weight: 4, arbitrary: mutatedUpdate.map((build) => ({ event: EVENTS.update, args: () => [build()] })) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((b) => ({ event: EVENTS.update, args: [b] })) },
  { weight: 2, arbitrary: fc.array(fc.anything(), { maxLength: 3 }).map((args) => ({ event: EVENTS.update, args })) },
  { weight: 2, arbitrary: fc.tuple(fc.string({ maxLength: 30 }), fc.array(fc.anything(), { maxLength: 3 })).map(([event, args]) => ({ event, args })) },
  { weight: 1, arbitrary: fc.constantFrom('disconnect', 'connect', 'error', 'newListener').map((event) => ({ event, args: [] })) },
);

/**
 * Sends an EVENT packet as a hand-written client would: socket.io-client's emit() refuses
 * reserved names ('disconnect', 'newListener', …) on the sending side, the server must not rely on that.
 */
function sendRaw(socket: Socket, event: string, args: unknown[]): void {
  (socket as unknown as { packet(p: { type: number; data: unknown[]; options?: object }): void }).packet({ type: 2, data: [event, ...args], options: { compress: false } });
}

test(`fuzz: ${MESSAGES} generated messages over every client event while honest participants train`, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-fuzz-'));
  const c = await startCoordinator(
    {
      ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 4, minClients: 2, roundDelayMs: 5, roundIntervalMs: 0, roundTimeoutMs: 2_000, stragglerGraceMs: 100,
      staticDir: path.join(dataDir, 'none'),
      // The fuzzers must reach the round engine, not only the per-connection rate limit.
      messageRate: { perSecond: 100_000, burst: 100_000 },
    },
    pino({ level: 'silent' }),
  );
  const honest = await Promise.all([0, 1, 2].map(() => HonestBot.join(c.url, 'mf', validUpdate)));
  let fuzzAcks = 0;
  const sockets: Socket[] = [];
  const tokens: string[] = [];
  for (let k = 0; k < FUZZERS; k++) tokens.push((await issueCredential(c.url)).token);
  // A fuzzer thrown out (protocol mismatch, malformed frame) comes back with its own credential.
  const openFuzzer = async (k: number): Promise<Socket> => {
    const s = await connectSocket(c.url, 'mf', { token: tokens[k] });
    s.on(EVENTS.roundStart, (m: RoundStartMessage) => Object.assign(current, { round: m.round, version: m.version }));
    s.on(EVENTS.updateAck, () => fuzzAcks++);
    // Joined and eligible, so fuzzers get selected and their mutated updates reach the open round.
    s.emit(EVENTS.join, { protocolVersion: PROTOCOL_VERSION, backend: 'cpu', eligible: true });
    sockets.push(s);
    return s;
  };
  const health = async () => HealthResponseSchema.parse(await (await fetch(`${c.url}/api/health`)).json()).models.mf;
  try {
    const fuzzers = await Promise.all(Array.from({ length: FUZZERS }, (_, k) => openFuzzer(k)));
    const rssBefore = process.memoryUsage().rss;
    const versionBefore = (await health()).version;
    const messages = fc.sample(message, { numRuns: MESSAGES, seed: 20261130 });
    let reconnects = 0;
    for (let i = 0; i < messages.length; i++) {
      const k = i % FUZZERS;
      if (!fuzzers[k].connected) {
        fuzzers[k] = await openFuzzer(k);
        reconnects++;
      }
      const { event, args } = messages[i];
      sendRaw(fuzzers[k], event, typeof args === 'function' ? args() : args);
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 20)); // let rounds run between bursts
    }
    await waitFor(async () => (await health()).version >= versionBefore + 3, 'honest rounds closing after the fuzz', 60_000);
    for (const s of sockets) s.close();
    for (const b of honest) b.close();
    await new Promise((r) => setTimeout(r, 300)); // let the last round settle before reading the log
    const rssAfter = process.memoryUsage().rss;
    const records = RoundsResponseSchema.parse(await (await fetch(`${c.url}${modelApiPath('mf')}/rounds?limit=1000`)).json()).rounds;
    const acks = fuzzAcks + honest.reduce((n, b) => n + b.acks, 0);
    const aggregatedUpdates = records.filter((r) => r.outcome === 'aggregated').reduce((n, r) => n + r.received, 0);
    const receivedInOtherRounds = records.filter((r) => r.outcome !== 'aggregated').reduce((n, r) => n + r.received, 0);
    assert.equal(aggregatedUpdates + receivedInOtherRounds, acks, 'every acknowledged update is accounted for by a round, and nothing else');
    const versions = records.filter((r) => r.newVersion !== null);
    assert.ok(versions.every((r) => r.outcome === 'aggregated' && r.received > 0), 'a version came from a round with no accepted update');
    assert.equal((await health()).version, Math.max(...versions.map((r) => r.newVersion!)));
    assert.ok(records.every((r) => r.outcome !== 'failed'), `a round failed: ${JSON.stringify(records.find((r) => r.outcome === 'failed'))}`);
    console.log(`fuzz: ${MESSAGES} messages from ${FUZZERS} sockets (${reconnects} reconnects), ${records.length} rounds closed, ${acks} updates accepted (${fuzzAcks} from fuzzers); RSS ${(rssBefore / 2 ** 20).toFixed(0)} MB before, ${(rssAfter / 2 ** 20).toFixed(0)} MB after`);
  } finally {
    for (const s of sockets) s.close();
    for (const b of honest) b.close();
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
