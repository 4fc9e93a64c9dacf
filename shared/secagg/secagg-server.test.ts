import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SecAggClient } from './secagg-client.ts';
import { isSecAggError, type SecAggRefusal } from './secagg-error.ts';
import { SecAggServer } from './secagg-server.ts';
import { constantRounding, plainEncodedSum, testParams, testUpdates } from './secagg-test-helpers.ts';

const refused = (reason: SecAggRefusal) => (e: unknown) => isSecAggError(e, reason);

test('the server refuses strangers, duplicates, late and malformed messages, and each refusal changes nothing', () => {
  const params = testParams(5, 8);
  const ids = params.participants;
  const server = new SecAggServer(params);
  const clients = new Map(ids.map((id) => [id, new SecAggClient(params, id, { rounding: constantRounding() })]));
  const ads = new Map(ids.map((id) => [id, clients.get(id)!.advertiseKeys()]));
  assert.throws(() => server.receiveKeys({ ...ads.get(ids[0])!, from: 'participant-999999' }), refused('not-a-participant'));
  assert.throws(() => server.receiveKeys({ ...ads.get(ids[0])!, cPublicKey: new Uint8Array(31) }), refused('malformed'));
  server.receiveKeys(ads.get(ids[0])!);
  assert.throws(() => server.receiveKeys(ads.get(ids[0])!), refused('duplicate'));
  assert.throws(() => server.closeShares(), refused('wrong-phase'));
  for (const id of ids.slice(1)) server.receiveKeys(ads.get(id)!);
  assert.deepEqual(server.pending, []);
  const nk = server.closeKeys();
  assert.throws(() => server.receiveKeys(ads.get(ids[0])!), refused('late'));
  const shares = new Map(ids.map((id) => [id, clients.get(id)!.shareKeys(nk.get(id)!)]));
  const s0 = shares.get(ids[0])!;
  assert.throws(() => server.receiveShares({ ...s0, shares: [...s0.shares, s0.shares[0]] }), refused('duplicate'));
  assert.throws(() => server.receiveShares({ ...s0, shares: s0.shares.map((s) => ({ ...s, from: ids[1] })) }), refused('malformed'));
  assert.throws(() => server.receiveShares({ ...s0, shares: s0.shares.slice(0, 2) }), refused('below-threshold'));
  for (const m of shares.values()) server.receiveShares(m);
  const sfm = server.closeShares();
  const updates = testUpdates(params);
  const masked = new Map(ids.map((id) => [id, clients.get(id)!.maskedInput(sfm.get(id)!, updates.get(id)!)]));
  assert.throws(() => server.receiveMaskedInput({ ...masked.get(ids[0])!, masked: new Uint8Array(31) }), refused('malformed'));
  for (const m of masked.values()) server.receiveMaskedInput(m);
  const request = server.closeMaskedInputs();
  const responses = new Map(ids.map((id) => [id, clients.get(id)!.unmask(request)]));
  const r0 = responses.get(ids[0])!;
  assert.throws(() => server.receiveUnmaskResponse({ ...r0, keyShares: [{ of: ids[1], share: r0.selfMaskShares[0].share }] }), refused('malformed'));
  for (const r of responses.values()) server.receiveUnmaskResponse(r);
  assert.deepEqual(server.finish().sum, plainEncodedSum(params, updates, ids));
  assert.equal(server.phase, 'done');
});

test('finish with too few revealed shares fails (typed) and changes nothing: later responses still complete the round', () => {
  const params = testParams(6, 8); // t = 3
  const ids = params.participants;
  const server = new SecAggServer(params);
  const clients = new Map(ids.map((id) => [id, new SecAggClient(params, id, { rounding: constantRounding() })]));
  for (const c of clients.values()) server.receiveKeys(c.advertiseKeys());
  for (const [id, nk] of server.closeKeys()) server.receiveShares(clients.get(id)!.shareKeys(nk));
  const updates = testUpdates(params, 5);
  for (const [id, sfm] of server.closeShares()) server.receiveMaskedInput(clients.get(id)!.maskedInput(sfm, updates.get(id)!));
  const request = server.closeMaskedInputs();
  for (const id of ids.slice(0, 2)) server.receiveUnmaskResponse(clients.get(id)!.unmask(request));
  assert.throws(() => server.finish(), refused('too-many-dropped'));
  assert.equal(server.phase, 'unmasking');
  assert.deepEqual(server.pending, ids.slice(2));
  server.receiveUnmaskResponse(clients.get(ids[2])!.unmask(request));
  server.receiveUnmaskResponse(clients.get(ids[3])!.unmask(request));
  assert.deepEqual(server.finish().sum, plainEncodedSum(params, updates, ids));
});

test('a wrong revealed key share is caught: the reconstruction does not match the advertised public key', () => {
  const params = testParams(6, 8);
  const ids = params.participants;
  const server = new SecAggServer(params);
  const clients = new Map(ids.map((id) => [id, new SecAggClient(params, id)]));
  for (const c of clients.values()) server.receiveKeys(c.advertiseKeys());
  for (const [id, nk] of server.closeKeys()) server.receiveShares(clients.get(id)!.shareKeys(nk));
  const updates = testUpdates(params);
  for (const [id, sfm] of server.closeShares()) if (id !== ids[5]) server.receiveMaskedInput(clients.get(id)!.maskedInput(sfm, updates.get(id)!));
  const request = server.closeMaskedInputs();
  assert.deepEqual(request.dropped, [ids[5]]);
  for (const id of request.survivors) {
    const r = clients.get(id)!.unmask(request);
    if (id === ids[0]) r.keyShares[0].share[10] ^= 1; // a lying participant
    server.receiveUnmaskResponse(r);
  }
  assert.throws(() => server.finish(), refused('tampered-share'));
});

test('the per-client unmask request holds only the client and its neighbours, and is answered as the full request is', () => {
  const params = testParams(16, 4, { neighbours: 4, context: 'restricted' });
  const ids = params.participants;
  const server = new SecAggServer(params);
  const clients = new Map(ids.map((id) => [id, new SecAggClient(params, id, { rounding: constantRounding() })]));
  for (const c of clients.values()) server.receiveKeys(c.advertiseKeys());
  for (const [id, nk] of server.closeKeys()) server.receiveShares(clients.get(id)!.shareKeys(nk));
  const updates = testUpdates(params, 2);
  for (const [id, sfm] of server.closeShares()) if (id !== ids[7]) server.receiveMaskedInput(clients.get(id)!.maskedInput(sfm, updates.get(id)!));
  const full = server.closeMaskedInputs();
  for (const id of full.survivors) {
    const mine = server.unmaskRequestFor(id);
    assert.ok(mine.survivors.length + mine.dropped.length <= params.neighbours + 1);
    assert.deepEqual(clients.get(id)!.unmask(mine), clients.get(id)!.unmask(full));
    server.receiveUnmaskResponse(clients.get(id)!.unmask(mine));
  }
  assert.throws(() => server.unmaskRequestFor(ids[7]), refused('not-a-participant'));
  assert.deepEqual(server.finish().sum, plainEncodedSum(params, updates, full.survivors));
});
