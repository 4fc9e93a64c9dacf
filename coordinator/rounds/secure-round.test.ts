/**
 * Secure aggregation over real socket.io on loopback against a real coordinator
 * (`--secure-aggregation`): Node participants run the same SecAggSession the browser
 * runs, each with a KNOWN clipped update (a unit direction of its own at half the clip
 * bound); the server step is plain SGD at learning rate 1, so new globals − old globals
 * is exactly the mean the coordinator unmasked.
 *
 * - Dropouts: of 8 participants one leaves after sending its shares (its pairwise masks
 *   must be recovered from key shares) and two leave right after their masked input was
 *   accepted (their self-masks must be recovered); the model moves by the mean of the 7
 *   masked inputs, to fixed-point precision.
 * - A round that loses too many cannot be unmasked: nothing changes, the next round runs.
 * - Refusals: a plain update, out-of-phase / malformed / duplicate / unselected / wrong
 *   round secagg messages each get a typed refusal and change nothing — the round that
 *   received them still unmasks exactly; a message naming someone else as `from` is taken
 *   as its sender's. Robust combine rules and the rest are refused at startup, before
 *   anything is written.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import type { Socket } from 'socket.io-client';
import { FlockError } from '../../shared/errors.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import { EVENTS, RoundRecordSchema, RoundStartMessageSchema, type RoundRecord, type RoundStartMessage, type UpdateRejectedMessage } from '../../shared/protocol/messages.ts';
import { weightsApiPath } from '../../shared/protocol/model-routes.ts';
import type { SecAggRejectedMessage } from '../../shared/protocol/secagg-events.ts';
import { SecAggClient } from '../../shared/secagg/secagg-client.ts';
import { packBinaryFields, unpackBinaryFields } from '../../shared/protocol/secagg-wire-codec.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { flattenGlobals } from '../../shared/update/flat-global-vector.ts';
import { decodeWeights, encodeUpdate, fromWireTensors, toWireTensors } from '../../shared/update/tensor-codec.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from '../serve-config.ts';
import { startCoordinator, type RunningCoordinator } from '../server.ts';
import { unitDirection } from '../testing/known-update-bot.ts';
import { joinAs, nextEvent, waitFor } from '../testing/test-participant.ts';
import { SecAggBot, type Leave } from '../testing/secagg-bot.ts';
import { applySecureAggregation, checkSecureAggregation } from './secure-round-settings.ts';

const CLIP = 1;
const scaled = (t: NamedTensors, s: number): NamedTensors => Object.fromEntries(Object.entries(t).map(([name, d]) => [name, d.map((x) => x * s)]));
/** A bot's known update: its own unit direction at half the clip bound. */
const joinBot = (url: string, spec: ModelSpec, seed: number, leave: Leave = 'stays') => SecAggBot.join(url, spec, scaled(unitDirection(spec, seed), 0.5 * CLIP), leave);

async function withSecureCoordinator(over: Partial<ServeConfig>, fn: (c: RunningCoordinator, logs: string[]) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-secagg-'));
  const base: ServeConfig = {
    ...DEFAULT_SERVE_CONFIG,
    models: ['mf'],
    port: 0,
    dataDir,
    dim: 4,
    roundDelayMs: 10,
    roundIntervalMs: 0,
    staticDir: path.join(dataDir, 'none'),
    serverOptimizer: { kind: 'sgd' },
    serverLearningRate: 1,
    round: { ...DEFAULT_SERVE_CONFIG.round, clipNorm: CLIP },
    ...over,
  };
  const { config } = applySecureAggregation(base, { dropoutFraction: 1 / 3 });
  const logs: string[] = [];
  const c = await startCoordinator(config, pino({ level: process.env.FLOCK_TEST_LOG ?? 'info' }, { write: (line: string) => void logs.push(line) }));
  try {
    await fn(c, logs);
  } finally {
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function weightsAt(c: RunningCoordinator, v: number): Promise<NamedTensors> {
  const res = await fetch(`${c.url}${weightsApiPath('mf', v)}`);
  assert.equal(res.status, 200);
  return fromWireTensors(decodeWeights(new Uint8Array(await res.arrayBuffer())).tensors);
}

async function roundRecords(c: RunningCoordinator): Promise<RoundRecord[]> {
  return ((await c.federations[0].store.rounds()) as unknown[]).map((r) => RoundRecordSchema.parse(r));
}

/** max |(after − before) − mean(updates)| over every GLOBAL coordinate. */
function maxDeviation(before: NamedTensors, after: NamedTensors, updates: NamedTensors[]): number {
  let worst = 0;
  for (const name of Object.keys(after)) {
    for (let i = 0; i < after[name].length; i++) {
      let mean = 0;
      for (const u of updates) mean += u[name][i];
      mean /= updates.length;
      worst = Math.max(worst, Math.abs(after[name][i] - before[name][i] - mean));
    }
  }
  return worst;
}

test('secure aggregation over sockets: 8 participants, one leaves after its shares, two right after their masked input — the model moves by the exact mean of the 7 masked inputs', { timeout: 120_000 }, async () => {
  await withSecureCoordinator({ minClients: 8, maxRounds: 1, roundTimeoutMs: 20_000 }, async (c, logs) => {
    const f = c.federations[0];
    const leaves: Leave[] = ['stays', 'after-shares', 'stays', 'after-masked-input', 'stays', 'after-masked-input', 'stays', 'stays'];
    const bots: SecAggBot[] = [];
    try {
      for (const [k, leave] of leaves.entries()) bots.push(await joinBot(c.url, f.spec, 500 + k, leave));
      await waitFor(() => f.engine.currentVersion >= 1, 'the secure round to publish version 1', 60_000).catch((e: Error) => assert.fail(`${e.message}; participants saw: ${bots.flatMap((b) => b.errors).join('; ')}`));
      const [record] = await roundRecords(c);
      assert.equal(record.outcome, 'aggregated');
      assert.equal(record.selected, 8);
      assert.equal(record.received, 7, 'seven masked inputs are in the sum');
      assert.equal(record.meanPreClipNorm, null, 'the coordinator does not learn individual norms');
      const inSum = bots.filter((b) => b.leave !== 'after-shares');
      assert.ok(inSum.every((b) => b.acked.has(1)), 'every masked input but the leaver-after-shares\' was accepted');
      assert.ok(!bots[1].acked.has(1));
      const dev = maxDeviation(await weightsAt(c, 0), await weightsAt(c, 1), inSum.map((b) => b.delta));
      console.log(`secure round with 3 dropouts: max |Δw − mean of the 7 masked updates| = ${dev.toExponential(2)} (updates' coordinates ~${(0.5 / Math.sqrt(f.spec.params.length)).toFixed(2)} at most)`);
      assert.ok(dev < 1e-6, `the published step is the mean of the masked inputs (max deviation ${dev})`);
      // Including the one that left before masking would be off by far more than the tolerance.
      assert.ok(maxDeviation(await weightsAt(c, 0), await weightsAt(c, 1), bots.map((b) => b.delta)) > 1e-4, 'the test can tell 7 from 8 summands');
      const stayed = bots.filter((b) => b.leave === 'stays');
      assert.deepEqual(stayed.flatMap((b) => b.errors), [], 'no participant that stayed saw an error');
      const unmasked = logs.map((l) => JSON.parse(l) as { msg: string; why?: string }).find((l) => l.msg === 'secure aggregation: round unmasked');
      assert.equal(unmasked?.why, 'everyone', 'the unmasking closed once those that stayed answered: the leavers were dropouts at once, not waited for until the phase deadline');
    } finally {
      for (const b of bots) b.close();
    }
  });
});

test('a secure round that loses too many after masking is abandoned: no new version, and the next round still runs', { timeout: 120_000 }, async () => {
  // 4 participants, complete graph (k = 3, t = 2): with two gone after masking, a survivor that
  // stayed has one responding neighbour for its self-mask, fewer than t — nothing can be unmasked.
  await withSecureCoordinator({ minClients: 4, maxRounds: 2, roundTimeoutMs: 4_000 }, async (c) => {
    const f = c.federations[0];
    const bots: SecAggBot[] = [];
    try {
      const leaves: Leave[] = ['stays', 'after-masked-input', 'after-masked-input', 'stays'];
      for (const [k, leave] of leaves.entries()) bots.push(await joinBot(c.url, f.spec, 900 + k, leave));
      await waitFor(async () => (await roundRecords(c)).length >= 1, 'round 1 recorded', 60_000);
      const [first] = await roundRecords(c);
      assert.equal(first.selected, 4);
      assert.equal(first.outcome, 'quorum-missed', `round 1: ${JSON.stringify(first)}`);
      assert.equal(first.newVersion, null, 'no version from an abandoned round');
      assert.equal(first.received, 0, 'nothing of an abandoned round counts as received');
      assert.equal(f.engine.currentVersion, 0);
      // Two newcomers make four again: round 2 runs and moves version 0 by the mean of ITS four updates.
      for (let k = 0; k < 2; k++) bots.push(await joinBot(c.url, f.spec, 950 + k));
      await waitFor(() => f.engine.currentVersion >= 1, 'round 2 to publish', 60_000);
      const second = (await roundRecords(c))[1];
      assert.equal(second.outcome, 'aggregated', `round 2: ${JSON.stringify(second)}`);
      const inRound2 = bots.filter((b) => b.acked.has(2));
      assert.equal(inRound2.length, 4);
      const dev = maxDeviation(await weightsAt(c, 0), await weightsAt(c, 1), inRound2.map((b) => b.delta));
      assert.ok(dev < 1e-6, `version 1 is version 0 moved by the mean of round 2's four updates only (max deviation ${dev})`);
    } finally {
      for (const b of bots) b.close();
    }
  });
});

test('refusals: a plain update, out-of-phase, malformed, duplicate, unselected and wrong-round secagg messages are refused, typed, and change nothing', { timeout: 120_000 }, async () => {
  await withSecureCoordinator({ minClients: 3, maxRounds: 1, roundTimeoutMs: 40_000 }, async (c) => {
    const f = c.federations[0];
    const outsider = await joinAs(c.url, 'mf', { eligible: false });
    const joined: { socket: Socket; participantId: string; start: Promise<RoundStartMessage> }[] = [];
    for (let k = 0; k < 3; k++) {
      let start!: Promise<RoundStartMessage>;
      const j = await joinAs(c.url, 'mf', { beforeJoin: (s) => (start = nextEvent<RoundStartMessage>(s, EVENTS.roundStart)) });
      joined.push({ ...j, start });
    }
    try {
      const msgs = await Promise.all(joined.map((j) => j.start));
      const round = msgs[0].round;
      const params = RoundStartMessageSchema.parse(msgs[0]).secureAggregation!;
      assert.ok(params, 'round:start carries the secure-aggregation parameters');
      assert.deepEqual([...params.participants].sort(), joined.map((j) => j.participantId).sort());
      const [a, b, cc] = joined;
      const clients = new Map(joined.map((j) => [j.participantId, new SecAggClient(params, j.participantId)]));
      // The refusal, or a failure if none comes within 5 s (the coordinator accepted it).
      const refusedRaw = (s: Socket, event: string, wire: unknown) =>
        new Promise<SecAggRejectedMessage>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`${event} was not refused: ${JSON.stringify(wire, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))}`)), 5_000);
          s.once(EVENTS.secaggRejected, (m: SecAggRejectedMessage) => {
            clearTimeout(timer);
            resolve(m);
          });
          s.emit(event, wire);
        });
      const refused = (s: Socket, event: string, body: unknown) => refusedRaw(s, event, packBinaryFields(body as object));

      // A plain update: refused unread.
      const plain = new Promise<UpdateRejectedMessage>((resolve, reject) => {
        a.socket.once(EVENTS.updateRejected, resolve);
        a.socket.once(EVENTS.updateAck, () => reject(new Error('a plain update was accepted under secure aggregation')));
      });
      a.socket.emit(EVENTS.update, encodeUpdate({ round, baseVersion: 0, numExamples: 1, preClipNorm: 0.1, tensors: toWireTensors(f.spec, scaled(unitDirection(f.spec, 1), 0.1)) }));
      assert.equal((await plain).code, 'unsupported-format');

      const keysA = clients.get(a.participantId)!.advertiseKeys();
      let r = await refused(a.socket, EVENTS.secaggMaskedInput, { round, from: a.participantId, masked: new Uint8Array(4 * params.vectorLength) });
      assert.equal(r.reason, 'wrong-phase', `masked input during the keys phase: ${JSON.stringify(r)}`);
      r = await refused(a.socket, EVENTS.secaggKeys, { round, ...keysA, extra: 1 });
      assert.equal(r.reason, 'malformed', `unknown field: ${JSON.stringify(r)}`);
      r = await refused(a.socket, EVENTS.secaggKeys, { round, ...keysA, cPublicKey: keysA.cPublicKey.slice(1) });
      assert.equal(r.reason, 'malformed', `31-byte key: ${JSON.stringify(r)}`);
      const packedA = packBinaryFields({ round, ...keysA });
      r = await refusedRaw(a.socket, EVENTS.secaggKeys, { json: packedA.json, bytes: Uint8Array.from([...packedA.bytes, 1, 2, 3]) });
      assert.ok(r.code === 'malformed' && /not referenced/.test(r.message), `bytes hidden beyond the referenced fields: ${JSON.stringify(r)}`);
      r = await refused(a.socket, EVENTS.secaggKeys, { round: round + 5, ...keysA });
      assert.equal(r.code, 'wrong-round');
      r = await refused(outsider.socket, EVENTS.secaggKeys, { round, ...new SecAggClient(params, params.participants[0]).advertiseKeys(), from: a.participantId });
      assert.equal(r.code, 'not-selected', `an unselected participant's keys, even naming a selected one: ${JSON.stringify(r)}`);

      // A's keys, claiming to be B: taken as A's (identity from the credential) ...
      a.socket.emit(EVENTS.secaggKeys, packBinaryFields({ round, ...keysA, from: b.participantId }));
      r = await refused(a.socket, EVENTS.secaggKeys, { round, ...keysA });
      assert.equal(r.code, 'duplicate', `A's second keys: ${JSON.stringify(r)}`);
      // ... so B's own are not a duplicate; with C's the phase closes early.
      const next = (s: Socket, event: string) => nextEvent<unknown>(s, event).then(unpackBinaryFields);
      const nk = joined.map((j) => next(j.socket, EVENTS.secaggNeighbourKeys));
      b.socket.emit(EVENTS.secaggKeys, packBinaryFields({ round, ...clients.get(b.participantId)!.advertiseKeys() }));
      cc.socket.emit(EVENTS.secaggKeys, packBinaryFields({ round, ...clients.get(cc.participantId)!.advertiseKeys() }));
      const neighbourKeys = await Promise.all(nk);

      // The rest of the protocol, driven by hand with known updates: the sum must be exact.
      const deltas = joined.map((_, k) => scaled(unitDirection(f.spec, 70 + k), 0.5 * CLIP));
      const sfm = joined.map((j) => next(j.socket, EVENTS.secaggSharesForMe));
      for (const [k, j] of joined.entries()) {
        const { round: _r, ...keys } = neighbourKeys[k] as { round: number };
        j.socket.emit(EVENTS.secaggShares, packBinaryFields({ round, ...clients.get(j.participantId)!.shareKeys(keys as never) }));
      }
      const sharesForMe = await Promise.all(sfm);
      r = await refused(a.socket, EVENTS.secaggKeys, { round, ...keysA });
      assert.equal(r.reason, 'late', `keys after the keys phase: ${JSON.stringify(r)}`);
      const unmaskRequests = joined.map((j) => next(j.socket, EVENTS.secaggUnmaskRequest));
      for (const [k, j] of joined.entries()) {
        const { round: _r, ...mine } = sharesForMe[k] as { round: number };
        j.socket.emit(EVENTS.secaggMaskedInput, packBinaryFields({ round, ...clients.get(j.participantId)!.maskedInput(mine as never, flattenGlobals(f.spec, deltas[k], CLIP)) }));
      }
      const requests = await Promise.all(unmaskRequests);
      for (const [k, j] of joined.entries()) {
        const { round: _r, ...req } = requests[k] as { round: number };
        j.socket.emit(EVENTS.secaggUnmask, packBinaryFields({ round, ...clients.get(j.participantId)!.unmask(req as never) }));
      }
      await waitFor(() => f.engine.currentVersion >= 1, 'the round to publish', 30_000);
      const dev = maxDeviation(await weightsAt(c, 0), await weightsAt(c, 1), deltas);
      assert.ok(dev < 1e-6, `the refused messages changed nothing: the model moved by the exact mean (max deviation ${dev})`);
      const [record] = await roundRecords(c);
      assert.ok(record.rejected >= 6, `the round counted its refusals (${record.rejected})`);
    } finally {
      outsider.socket.close();
      for (const j of joined) j.socket.close();
    }
  });
});

test('refused at startup, before anything is written: robust combine rules, non-uniform weighting, row normalisation, adaptive clipping', async () => {
  const base: ServeConfig = { ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0 };
  assert.throws(() => applySecureAggregation(base, { dropoutFraction: 0.2 }, { combine: true }), (e: unknown) => e instanceof FlockError && e.code === 'bad-config' && /--combine centered-clipping.*cannot be used with --secure-aggregation/.test(e.message));
  assert.throws(() => applySecureAggregation({ ...base, weighting: { kind: 'examples-capped', cap: 10 } }, { dropoutFraction: 0.2 }, { weighting: true }), (e: unknown) => e instanceof FlockError && e.code === 'bad-config' && /--weighting/.test(e.message));
  const { config, notes } = applySecureAggregation(base, { dropoutFraction: 0.2 });
  assert.deepEqual([config.combine, config.weighting, config.rowNormalize], [{ kind: 'mean' }, { kind: 'uniform' }, false], 'defaults are switched when the user did not choose');
  assert.ok(notes.some((n) => /combine 'mean'/.test(n)) && notes.some((n) => /row normalisation off/.test(n)), notes.join('; '));
  assert.throws(() => checkSecureAggregation({ ...config, rowNormalize: true }), /row normalisation/);
  assert.throws(() => checkSecureAggregation({ ...config, dp: { noiseMultiplier: 1, rounds: 10, population: 100, adaptiveClip: { targetQuantile: 0.5 } } }), /--adaptive-clip/);
  assert.throws(() => checkSecureAggregation({ ...config, secureAggregation: { dropoutFraction: 0.5 } }), /--secagg-dropout/);
  assert.throws(() => checkSecureAggregation({ ...config, round: { ...config.round, updateEncodings: ['int8', 'f32'] } }), /--update-encodings int8,f32 cannot be used with --secure-aggregation/);

  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-secagg-refused-'));
  try {
    await assert.rejects(
      startCoordinator({ ...config, combine: { kind: 'median' }, dataDir, staticDir: path.join(dataDir, 'none') }, pino({ level: 'silent' })),
      (e: unknown) => e instanceof FlockError && e.code === 'bad-config' && /--combine median cannot be used with --secure-aggregation/.test(e.message),
    );
    assert.deepEqual(await readdir(dataDir), [], 'nothing was written');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
