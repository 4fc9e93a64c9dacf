import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import pino from 'pino';
import { FlockError } from '../../shared/errors.ts';
import { CredentialResponseSchema, ParticipantIdSchema } from '../../shared/protocol/messages.ts';
import { CREDENTIAL_AUDIENCE, CREDENTIAL_ISSUER, credentialKeysFile, CredentialIssuer } from './credential-issuer.ts';

const silent = pino({ level: 'silent' });
const DAY = 86_400_000;

async function withDirs(n: number, fn: (...dirs: string[]) => Promise<void>): Promise<void> {
  const dirs = await Promise.all(Array.from({ length: n }, () => mkdtemp(path.join(tmpdir(), 'flock-identity-'))));
  try {
    await fn(...dirs);
  } finally {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

const refused = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof FlockError, `expected a FlockError, got ${String(e)}`);
  assert.equal(e.code, 'unauthorized');
  assert.match(e.message, pattern);
  assert.match(e.message, /POST \/api\/credentials/, 'the message says what to do');
  return true;
};

const kidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid;

test('a credential names a fresh random participant and verifies, also after a restart (the key is kept, 0600)', async () => {
  await withDirs(1, async (dir) => {
    const issuer = await CredentialIssuer.open(dir, silent);
    const a = CredentialResponseSchema.parse(await issuer.issue());
    const b = await issuer.issue();
    assert.notEqual(a.participantId, b.participantId);
    assert.ok(ParticipantIdSchema.safeParse(a.participantId).success);
    assert.deepEqual(await issuer.verify(a.token), { participantId: a.participantId });
    const header = JSON.parse(Buffer.from(a.token.split('.')[0], 'base64url').toString());
    assert.equal(header.alg, 'EdDSA');
    const claims = JSON.parse(Buffer.from(a.token.split('.')[1], 'base64url').toString());
    assert.equal(claims.sub, a.participantId);
    assert.equal(claims.iss, CREDENTIAL_ISSUER);
    assert.equal(claims.aud, CREDENTIAL_AUDIENCE);
    assert.equal(claims.exp - claims.iat, 30 * 86_400, 'default lifetime: 30 days');
    assert.equal(a.expiresAt, claims.exp * 1000);

    const file = credentialKeysFile(dir);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const reopened = await CredentialIssuer.open(dir, silent);
    assert.deepEqual(await reopened.verify(a.token), { participantId: a.participantId });
    assert.deepEqual((await reopened.list()).map((k) => k.kid), [kidOf(a.token)]);
  });
});

test('a credential with a changed payload (another participant) is refused: the signature no longer verifies', async () => {
  await withDirs(1, async (dir) => {
    const issuer = await CredentialIssuer.open(dir, silent);
    const { token } = await issuer.issue();
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'victim-participant-000001' })).toString('base64url');
    await assert.rejects(issuer.verify(`${h}.${forged}.${s}`), refused(/signature does not verify/));
    // A flipped signature byte, too.
    const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
    await assert.rejects(issuer.verify(`${h}.${p}.${flipped}`), refused(/signature does not verify/));
  });
});

test('an expired credential is refused', async () => {
  await withDirs(1, async (dir) => {
    const past = await CredentialIssuer.open(dir, silent, { now: () => Date.now() - 31 * DAY });
    const { token } = await past.issue();
    const today = await CredentialIssuer.open(dir, silent);
    await assert.rejects(today.verify(token), refused(/expired/));
    // The same credential was fine the day it was issued.
    assert.ok(await past.verify(token));
  });
});

test('a credential of another coordinator (other key) is refused, also when it claims our key id', async () => {
  await withDirs(2, async (ours, theirs) => {
    const issuer = await CredentialIssuer.open(ours, silent);
    const foreign = await (await CredentialIssuer.open(theirs, silent)).issue();
    await assert.rejects(issuer.verify(foreign.token), refused(/key this coordinator does not know/));

    const [ourKid] = (await issuer.list()).map((k) => k.kid);
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const impostor = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', kid: ourKid })
      .setSubject('impostor-participant-0001')
      .setIssuer(CREDENTIAL_ISSUER)
      .setAudience(CREDENTIAL_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('1d')
      .sign(privateKey);
    await assert.rejects(issuer.verify(impostor), refused(/signature does not verify/));
  });
});

test('only EdDSA is accepted: an HMAC token (keyed with the public key) and alg "none" are refused', async () => {
  await withDirs(1, async (dir) => {
    const issuer = await CredentialIssuer.open(dir, silent);
    const keys = JSON.parse(await readFile(credentialKeysFile(dir), 'utf8'));
    const kid = keys.keys[0].kid as string;
    const publicX = Buffer.from(keys.keys[0].publicJwk.x, 'base64url');
    const hmac = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid })
      .setSubject('hmac-participant-00000001')
      .setIssuer(CREDENTIAL_ISSUER)
      .setAudience(CREDENTIAL_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('1d')
      .sign(new Uint8Array(publicX));
    await assert.rejects(issuer.verify(hmac), refused(/not signed with EdDSA/));
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid })).toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`;
    await assert.rejects(issuer.verify(none), refused(/not a signed token/));
    await assert.rejects(issuer.verify(undefined), refused(/no credential/));
  });
});

test('rotation: old credentials keep verifying until their key is retired; the signing key cannot be retired', async () => {
  await withDirs(1, async (dir) => {
    const issuer = await CredentialIssuer.open(dir, silent);
    const before = await issuer.issue();
    const oldKid = kidOf(before.token);
    const rotated = await issuer.rotate();
    assert.notEqual(rotated.kid, oldKid);
    const after = await issuer.issue();
    assert.equal(kidOf(after.token), rotated.kid, 'new credentials are signed with the new key');
    assert.ok(await issuer.verify(before.token), 'an old credential still verifies after a rotation');

    await assert.rejects(issuer.retire(rotated.kid), (e) => e instanceof FlockError && e.code === 'bad-config' && /rotate first/.test(e.message));
    await assert.rejects(issuer.retire('no-such-key-id'), (e) => e instanceof FlockError && e.code === 'not-found');
    const retired = await issuer.retire(oldKid);
    assert.ok(retired.retiredAt !== undefined);
    await assert.rejects(issuer.verify(before.token), refused(/retired key/));
    assert.ok(await issuer.verify(after.token));

    const stored = JSON.parse(await readFile(credentialKeysFile(dir), 'utf8'));
    const old = stored.keys.find((k: { kid: string }) => k.kid === oldKid);
    assert.equal(old.privateJwk, undefined, 'a retired key keeps no private half on disk');
    assert.deepEqual((await issuer.list()).map((k) => [k.kid, k.signing, k.retiredAt !== undefined]), [[oldKid, false, true], [rotated.kid, true, false]]);
  });
});

test('a retirement made by another process (flock keys retire) binds a running issuer at its next check', async () => {
  await withDirs(1, async (dir) => {
    const running = await CredentialIssuer.open(dir, silent);
    const held = await running.issue();
    const cli = await CredentialIssuer.open(dir, silent);
    await cli.rotate();
    await cli.retire(kidOf(held.token));
    await assert.rejects(running.verify(held.token), refused(/retired key/));
    const fresh = await running.issue();
    assert.notEqual(kidOf(fresh.token), kidOf(held.token), 'the running issuer signs with the rotated key');
  });
});

test('a damaged keys file is refused with instructions, never silently replaced', async () => {
  await withDirs(1, async (dir) => {
    await CredentialIssuer.open(dir, silent);
    const file = credentialKeysFile(dir);
    const good = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...good, keys: [{ ...good.keys[0], kid: 'AAAAAAAAAAAAAAAA' }] }));
    await assert.rejects(CredentialIssuer.open(dir, silent), (e) => e instanceof FlockError && e.code === 'store-damaged' && /does not match its public key/.test(e.message));
    await writeFile(file, '{"format":');
    await assert.rejects(CredentialIssuer.open(dir, silent), (e) => e instanceof FlockError && e.code === 'store-damaged' && /restore it from a backup/.test(e.message));
  });
});
