/**
 * The attacks of a stranger with the developer tools, over real socket.io and HTTP on
 * loopback against a real coordinator: hijacking another participant, many identities
 * on one socket, phantom registrations, silent and departing participants, duplicate and
 * unselected updates, forged credentials. Each must be refused or absorbed while honest
 * participants' rounds keep closing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import type { Socket } from 'socket.io-client';
import { createModel } from '../../shared/model/model-registry.ts';
import {
  EVENTS,
  HealthResponseSchema,
  PROTOCOL_VERSION,
  RoundsResponseSchema,
  type ProtocolErrorMessage,
  type RoundRecord,
  type RoundStartMessage,
} from '../../shared/protocol/messages.ts';
import { modelApiPath } from '../../shared/protocol/model-routes.ts';
import { elementCount, type NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { encodeUpdate, toWireTensors } from '../../shared/update/tensor-codec.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from '../serve-config.ts';
import { startCoordinator, type RunningCoordinator } from '../server.ts';
import { connectSocket, HonestBot, issueCredential, joinAs, nextEvent, sendUpdate, waitFor } from '../testing/test-participant.ts';

const spec = createModel({ kind: 'mf', numItems: 400, dim: 4 }).spec;
const small: NamedTensors = Object.fromEntries(spec.params.filter((p) => p.scope === 'global').map((p) => [p.name, new Float32Array(elementCount(p.shape)).fill(1e-4)]));
const honestUpdate = (round: number, baseVersion: number) => encodeUpdate({ round, baseVersion, numExamples: 5, preClipNorm: 0.01, tensors: toWireTensors(spec, small) });

async function withCoordinator(over: Partial<ServeConfig>, fn: (c: RunningCoordinator) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-attacks-'));
  const c = await startCoordinator(
    { ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 4, minClients: 2, roundDelayMs: 10, roundIntervalMs: 0, staticDir: path.join(dataDir, 'none'), ...over },
    pino({ level: 'silent' }),
  );
  try {
    await fn(c);
  } finally {
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const health = async (c: RunningCoordinator) => HealthResponseSchema.parse(await (await fetch(`${c.url}/api/health`)).json()).models.mf;
const rounds = async (c: RunningCoordinator): Promise<RoundRecord[]> => RoundsResponseSchema.parse(await (await fetch(`${c.url}${modelApiPath('mf')}/rounds?limit=1000`)).json()).rounds;

test('hijack: a join naming another participant is refused; the victim keeps its slot and its rounds', async () => {
  await withCoordinator({}, async (c) => {
    const victim = await HonestBot.join(c.url, 'mf', honestUpdate);
    const other = await HonestBot.join(c.url, 'mf', honestUpdate);
    const attacker = await connectSocket(c.url, 'mf', { token: (await issueCredential(c.url)).token });
    const refusal = nextEvent<ProtocolErrorMessage>(attacker, EVENTS.protocolError);
    attacker.emit(EVENTS.join, { protocolVersion: PROTOCOL_VERSION, backend: 'cpu', eligible: true, clientId: victim.participantId });
    const err = await refusal;
    assert.equal(err.code, 'malformed');
    assert.match(err.message, /unrecognized key/i);
    assert.ok(victim.socket.connected, 'the victim was disconnected');
    await waitFor(async () => (await health(c)).version >= 2, 'two versions from the honest pair');
    assert.equal((await health(c)).clients, 2, 'the attacker registered as a participant');
    assert.ok(victim.acks >= 1);
    attacker.close();
    victim.close();
    other.close();
  });
});

test('forged, foreign and missing credentials are refused at the handshake', async () => {
  await withCoordinator({}, async (c) => {
    const real = await issueCredential(c.url);
    const [h, p] = real.token.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forgedPayload = Buffer.from(JSON.stringify({ ...payload, sub: 'victim-participant-000001' })).toString('base64url');
    const cases: [string, Record<string, unknown>][] = [
      ['none', {}],
      ['not a JWS', { token: 'hello' }],
      ['payload swapped, signature kept', { token: `${h}.${forgedPayload}.${real.token.split('.')[2]}` }],
      ['unsigned (alg none)', { token: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${forgedPayload}.` }],
    ];
    for (const [what, auth] of cases) {
      await assert.rejects(connectSocket(c.url, 'mf', { auth }), (e: Error & { data?: { code?: string } }) => {
        assert.equal(e.data?.code, 'unauthorized', `${what}: ${e.message}`);
        return true;
      }, what);
    }
    assert.equal((await health(c)).clients, 0);
  });
});

test('one identity per connection: 5,000 joins on one socket leave no phantom and rounds go on', async () => {
  await withCoordinator({}, async (c) => {
    const a = await HonestBot.join(c.url, 'mf', honestUpdate);
    const b = await HonestBot.join(c.url, 'mf', honestUpdate);
    const spammer = await joinAs(c.url, 'mf', { eligible: false });
    for (let i = 0; i < 5000; i++) {
      spammer.socket.emit(EVENTS.join, { protocolVersion: PROTOCOL_VERSION, backend: 'cpu', eligible: true, ...(i % 2 ? { clientId: `phantom-${i}` } : {}) });
    }
    await waitFor(async () => (await health(c)).clients <= 3, 'at most the three connections');
    spammer.socket.close();
    await waitFor(async () => (await health(c)).clients === 2, 'the spammer forgotten once it left');
    const v = (await health(c)).version;
    await waitFor(async () => (await health(c)).version >= v + 2, 'rounds still aggregating after the spam');
    a.close();
    b.close();
  });
});

test('a reconnect of the same participant replaces its old connection (told why), never adds one', async () => {
  await withCoordinator({}, async (c) => {
    const cred = await issueCredential(c.url);
    const first = await joinAs(c.url, 'mf', { credential: cred });
    const told = nextEvent<ProtocolErrorMessage>(first.socket, EVENTS.protocolError);
    const gone = nextEvent(first.socket, 'disconnect');
    const second = await joinAs(c.url, 'mf', { credential: cred });
    assert.equal((await told).code, 'replaced');
    await gone;
    assert.equal((await health(c)).clients, 1);
    second.socket.close();
  });
});

test('silent and departing participants are dropped, not waited for: no round reaches its deadline', async () => {
  await withCoordinator({ roundTimeoutMs: 600_000, stragglerGraceMs: 200 }, async (c) => {
    const bots = await Promise.all([0, 1, 2].map(() => HonestBot.join(c.url, 'mf', honestUpdate)));
    const silent = await joinAs(c.url, 'mf'); // selected, never answers
    const leaverCred = await issueCredential(c.url);
    let leaves = 0;
    let stopped = false;
    const leaver = async (): Promise<void> => {
      if (stopped) return;
      const { socket } = await joinAs(c.url, 'mf', { credential: leaverCred });
      socket.once(EVENTS.roundStart, () => {
        leaves++;
        socket.close();
        setTimeout(() => void leaver().catch(() => {}), 50); // comes back, only to leave when selected again
      });
    };
    await leaver();
    await waitFor(async () => (await health(c)).version >= 4, 'four versions', 60_000);
    const closed = await rounds(c);
    assert.ok(closed.length >= 4);
    for (const r of closed) {
      assert.notEqual(r.closedBy, 'deadline', `round ${r.round} waited for its deadline: ${JSON.stringify(r)}`);
      assert.equal(r.outcome, 'aggregated', JSON.stringify(r));
    }
    assert.ok(leaves >= 1, 'the leaver was never selected: the test did not exercise it');
    assert.ok(closed.some((r) => (r.dropped ?? 0) > 0), 'no round dropped anyone: the silent participant was never selected');
    stopped = true;
    silent.socket.close();
    for (const b of bots) b.close();
  });
});

test('unselected, duplicate and pre-join updates get typed rejections and change nothing', async () => {
  // Target 2 of 4 eligible, 3 selected: one participant is left out of every round.
  await withCoordinator({ minClients: 4, clientsPerRound: 0.5, overselect: 0.5, roundTimeoutMs: 600_000 }, async (c) => {
    const starts = new Map<Socket, RoundStartMessage>();
    const joined: Awaited<ReturnType<typeof joinAs>>[] = [];
    for (let i = 0; i < 4; i++) {
      joined.push(await joinAs(c.url, 'mf', { beforeJoin: (s) => s.once(EVENTS.roundStart, (m: RoundStartMessage) => starts.set(s, m)) }));
    }
    await waitFor(() => starts.size === 3, 'three selected participants');
    const [announce] = [...starts.values()];
    const before = await health(c);
    const unselected = joined.find((j) => !starts.has(j.socket))!;
    const selected = joined.filter((j) => starts.has(j.socket));
    assert.equal((await sendUpdate(unselected.socket, honestUpdate(announce.round, announce.version))).rejected?.code, 'not-selected');
    assert.ok((await sendUpdate(selected[0].socket, honestUpdate(announce.round, announce.version))).ack);
    assert.equal((await sendUpdate(selected[0].socket, honestUpdate(announce.round, announce.version))).rejected?.code, 'duplicate');
    assert.equal((await health(c)).version, before.version, 'the model changed before the round reached its target');
    const fresh = await connectSocket(c.url, 'mf', { token: (await issueCredential(c.url)).token });
    assert.equal((await sendUpdate(fresh, honestUpdate(announce.round, announce.version))).rejected?.code, 'not-selected');
    assert.ok((await sendUpdate(selected[1].socket, honestUpdate(announce.round, announce.version))).ack);
    await waitFor(async () => (await health(c)).version === before.version + 1, 'the round closing at its target');
    const [record] = (await rounds(c)).filter((r) => r.round === announce.round);
    assert.equal(record.received, 2);
    assert.equal(record.closedBy, 'target');
    fresh.close();
    for (const j of joined) j.socket.close();
  });
});

test('a participant without enough data is never selected', async () => {
  await withCoordinator({}, async (c) => {
    const bots = await Promise.all([0, 1].map(() => HonestBot.join(c.url, 'mf', honestUpdate)));
    const idle = await HonestBot.join(c.url, 'mf', honestUpdate, { eligible: false });
    await waitFor(async () => (await health(c)).version >= 3, 'three versions');
    assert.equal(idle.roundsSelected, 0);
    assert.ok(bots.every((b) => b.roundsSelected >= 3));
    for (const b of [...bots, idle]) b.close();
  });
});
