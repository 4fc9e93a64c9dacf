import assert from 'node:assert/strict';
import { test } from 'node:test';
import { neighboursOf } from './neighbour-graph.ts';
import { SecAggClient } from './secagg-client.ts';
import { isSecAggError, type SecAggRefusal } from './secagg-error.ts';
import type { SharesForMe, UnmaskRequest } from './secagg-messages.ts';
import type { SecAggParams } from './secagg-params.ts';
import { SecAggServer } from './secagg-server.ts';
import { constantRounding, plainEncodedSum, testParams, testUpdates } from './secagg-test-helpers.ts';

const refused = (reason: SecAggRefusal) => (e: unknown) => isSecAggError(e, reason);

/** Runs rounds 0–2 honestly; returns what round 3 needs. */
function upToUnmask(params: SecAggParams, dropAfterShares: readonly string[] = []) {
  const server = new SecAggServer(params);
  const updates = testUpdates(params);
  const clients = new Map(params.participants.map((id) => [id, new SecAggClient(params, id, { rounding: constantRounding() })]));
  for (const c of clients.values()) server.receiveKeys(c.advertiseKeys());
  for (const [id, nk] of server.closeKeys()) server.receiveShares(clients.get(id)!.shareKeys(nk));
  const sharesForMe = server.closeShares();
  for (const [id, sfm] of sharesForMe) if (!dropAfterShares.includes(id)) server.receiveMaskedInput(clients.get(id)!.maskedInput(sfm, updates.get(id)!));
  const request = server.closeMaskedInputs();
  return { server, clients, updates, request };
}

/** Runs rounds 0–1 honestly; returns the shares forwarded to each participant. */
function upToMaskedInput(params: SecAggParams) {
  const server = new SecAggServer(params);
  const clients = new Map(params.participants.map((id) => [id, new SecAggClient(params, id, { rounding: constantRounding() })]));
  for (const c of clients.values()) server.receiveKeys(c.advertiseKeys());
  for (const [id, nk] of server.closeKeys()) server.receiveShares(clients.get(id)!.shareKeys(nk));
  return { server, clients, sharesForMe: server.closeShares(), updates: testUpdates(params) };
}

test('a coordinator asking for both kinds of share of one participant in one request is refused, and nothing is revealed', () => {
  const params = testParams(6, 8);
  const { clients, request } = upToUnmask(params);
  const [asker, victim] = params.participants;
  const bad: UnmaskRequest = { survivors: request.survivors, dropped: [victim] };
  assert.throws(() => clients.get(asker)!.unmask(bad), refused('both-shares-requested'));
  // the refusal changed nothing: the honest request is still answered, with only the self-mask share of the victim
  const r = clients.get(asker)!.unmask(request);
  assert.ok(r.selfMaskShares.some((s) => s.of === victim));
  assert.ok(!r.keyShares.some((s) => s.of === victim));
});

test('a coordinator asking across two requests (first "survived", then "dropped") is refused the second time', () => {
  const params = testParams(6, 8);
  const { clients, request } = upToUnmask(params);
  const [asker, victim] = params.participants;
  const first = clients.get(asker)!.unmask(request);
  assert.ok(first.selfMaskShares.some((s) => s.of === victim));
  const second: UnmaskRequest = { survivors: request.survivors.filter((id) => id !== victim), dropped: [victim] };
  assert.throws(() => clients.get(asker)!.unmask(second), refused('both-shares-requested'));
  // the same request again (a resend) is answered identically
  assert.deepEqual(clients.get(asker)!.unmask(request), first);
});

test('inconsistent survivor/dropped sets are refused', () => {
  const params = testParams(8, 8, { neighbours: 6 });
  const { clients, request } = upToUnmask(params);
  const me = params.participants[0];
  const client = clients.get(me)!;
  const nb = neighboursOf(params, me);
  const notMe = request.survivors.filter((id) => id !== me);
  assert.throws(() => client.unmask({ survivors: notMe, dropped: [] }), refused('inconsistent-sets')); // I am a survivor
  const missing = request.survivors.filter((id) => id !== nb[0]);
  assert.throws(() => client.unmask({ survivors: missing, dropped: [] }), refused('inconsistent-sets')); // a neighbour neither survived nor dropped
  assert.throws(() => client.unmask({ survivors: [...request.survivors, 'participant-999999'].sort(), dropped: [] }), refused('not-a-participant'));
  assert.throws(() => client.unmask({ survivors: [...request.survivors, me], dropped: [] }), refused('inconsistent-sets')); // listed twice
});

test('a neighbour listed as survivor or dropped that never sent its shares is refused', () => {
  const params = testParams(6, 8); // complete graph
  const ids = params.participants;
  const server = new SecAggServer(params);
  const clients = new Map(ids.map((id) => [id, new SecAggClient(params, id, { rounding: constantRounding() })]));
  for (const c of clients.values()) server.receiveKeys(c.advertiseKeys());
  const nk = server.closeKeys();
  for (const id of ids.slice(0, 5)) server.receiveShares(clients.get(id)!.shareKeys(nk.get(id)!)); // ids[5] advertised, never shared
  const sfm = server.closeShares();
  const updates = testUpdates(params);
  for (const id of ids.slice(0, 5)) server.receiveMaskedInput(clients.get(id)!.maskedInput(sfm.get(id)!, updates.get(id)!));
  const request = server.closeMaskedInputs();
  assert.deepEqual(request.dropped, []);
  assert.throws(() => clients.get(ids[0])!.unmask({ survivors: request.survivors, dropped: [ids[5]] }), refused('inconsistent-sets'));
  assert.throws(() => clients.get(ids[0])!.unmask({ survivors: [...request.survivors, ids[5]].sort(), dropped: [] }), refused('inconsistent-sets'));
});

test('fewer than t surviving neighbours: the client refuses to unmask', () => {
  const params = testParams(6, 8); // k = 5, t = 3
  const ids = params.participants;
  const { clients, request } = upToUnmask(params);
  const me = ids[0];
  const claim: UnmaskRequest = { survivors: [me, ids[1]], dropped: ids.slice(2) }; // only 1 surviving neighbour
  assert.deepEqual(request.dropped, []);
  assert.throws(() => clients.get(me)!.unmask(claim), (e) => isSecAggError(e, 'below-threshold') || isSecAggError(e, 'both-shares-requested'));
  // a client that has revealed nothing yet and is told 3 of its 5 neighbours dropped refuses on the threshold
  const fresh = upToUnmask(params);
  assert.throws(() => fresh.clients.get(me)!.unmask(claim), refused('below-threshold'));
});

test('fewer than t neighbours advertising keys, or sending shares, is refused', () => {
  const params = testParams(6, 8); // t = 3
  const ids = params.participants;
  const server = new SecAggServer(params);
  const clients = new Map(ids.map((id) => [id, new SecAggClient(params, id)]));
  const ads = new Map(ids.map((id) => [id, clients.get(id)!.advertiseKeys()]));
  assert.throws(() => clients.get(ids[0])!.shareKeys({ advertisements: [ads.get(ids[1])!, ads.get(ids[2])!] }), refused('below-threshold'));
  for (const a of ads.values()) server.receiveKeys(a);
  const nk = server.closeKeys();
  const sent = new Map(ids.map((id) => [id, clients.get(id)!.shareKeys(nk.get(id)!)]));
  const toMe = [...sent.values()].flatMap((m) => m.shares.filter((s) => s.to === ids[0]));
  assert.throws(() => clients.get(ids[0])!.maskedInput({ shares: toMe.slice(0, 2) }, new Float32Array(8)), refused('below-threshold'));
});

test('a tampered, forged, re-addressed or swapped share ciphertext is detected', () => {
  const params = testParams(5, 8);
  const { clients, sharesForMe, updates } = upToMaskedInput(params);
  const me = params.participants[0];
  const honest = sharesForMe.get(me)!;
  const variants: [string, SharesForMe][] = [];
  const flip = honest.shares[0].ciphertext.slice();
  flip[40] ^= 1;
  variants.push(['one bit flipped', { shares: [{ ...honest.shares[0], ciphertext: flip }, ...honest.shares.slice(1)] }]);
  // the ciphertexts of two senders swapped (each now labelled with the other's id)
  variants.push(['sender relabelled', { shares: [{ ...honest.shares[0], ciphertext: honest.shares[1].ciphertext }, { ...honest.shares[1], ciphertext: honest.shares[0].ciphertext }, ...honest.shares.slice(2)] }]);
  const forged = globalThis.crypto.getRandomValues(new Uint8Array(honest.shares[0].ciphertext.length));
  variants.push(['forged', { shares: [{ ...honest.shares[0], ciphertext: forged }, ...honest.shares.slice(1)] }]);
  const other = sharesForMe.get(params.participants[1])!.shares.find((s) => s.from === honest.shares[2].from)!;
  variants.push(['meant for someone else', { shares: [...honest.shares.slice(0, 2), { ...other, to: me }, ...honest.shares.slice(3)] }]);
  // my own share for X reflected back to me as if X had sent it: same pair key, only the AAD (from, to) tells them apart
  const x = honest.shares[0].from;
  const mine = sharesForMe.get(x)!.shares.find((s) => s.from === me)!;
  variants.push(['reflected', { shares: [{ from: x, to: me, ciphertext: mine.ciphertext }, ...honest.shares.slice(1)] }]);
  for (const [what, sfm] of variants) {
    assert.throws(() => clients.get(me)!.maskedInput(sfm, updates.get(me)!), refused('tampered-share'), what);
  }
  // nothing changed: the honest shares are still accepted
  assert.equal(clients.get(me)!.maskedInput(honest, updates.get(me)!).masked.length, 4 * params.vectorLength);
});

test('a share ciphertext from another round (same ids, other context) is refused', () => {
  const a = upToMaskedInput(testParams(5, 8, { context: 'run/round-1' }));
  const b = upToMaskedInput(testParams(5, 8, { context: 'run/round-2' }));
  const me = a.clients.keys().next().value!;
  const replay = b.sharesForMe.get(me)!;
  assert.throws(() => a.clients.get(me)!.maskedInput(replay, a.updates.get(me)!), refused('tampered-share'));
});

test('steps out of order, and params or ids not of this round, are refused', () => {
  const params = testParams(4, 8);
  const c = new SecAggClient(params, params.participants[0]);
  assert.throws(() => c.shareKeys({ advertisements: [] }), refused('wrong-phase'));
  assert.throws(() => c.unmask({ survivors: [], dropped: [] }), refused('wrong-phase'));
  c.advertiseKeys();
  assert.throws(() => c.advertiseKeys(), refused('wrong-phase'));
  assert.throws(() => new SecAggClient(params, 'participant-999999'), refused('not-a-participant'));
  assert.throws(() => new SecAggClient({ ...params, threshold: 1 }, params.participants[0]), refused('bad-params'));
  assert.throws(() => new SecAggClient({ ...params, scale: params.scale * 2 }, params.participants[0]), refused('bad-params'));
});

test('an honest run through the same driver unmasks to the exact encoded sum (the driver itself is sound)', () => {
  const params = testParams(6, 8);
  const { server, clients, updates, request } = upToUnmask(params, [params.participants[4]]);
  for (const id of request.survivors) server.receiveUnmaskResponse(clients.get(id)!.unmask(request));
  const r = server.finish();
  assert.deepEqual(r.sum, plainEncodedSum(params, updates, request.survivors));
});
