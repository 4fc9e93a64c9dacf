import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { FlockError } from '../../shared/errors.ts';
import { CredentialIssuer } from './credential-issuer.ts';
import { runFlockCli } from '../testing/run-flock-cli.ts';

const flock = runFlockCli;

test('flock keys rotate, list and retire act on the data dir a coordinator verifies with', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'flock-keys-'));
  try {
    const issuer = await CredentialIssuer.open(dir, pino({ level: 'silent' }));
    const held = await issuer.issue();
    const [first] = await issuer.list();

    const rotated = await flock('keys', 'rotate', '--data-dir', dir);
    assert.equal(rotated.code, 0, rotated.out);
    const newKid = /new signing key (\S+);/.exec(rotated.out)?.[1];
    assert.ok(newKid && newKid !== first.kid, rotated.out);

    const listed = await flock('keys', 'list', '--data-dir', dir);
    assert.equal(listed.code, 0, listed.out);
    assert.match(listed.out, new RegExp(`^${first.kid}\\s+\\S+\\s+-$`, 'm'), 'the old key: not retired, not signing');
    assert.match(listed.out, new RegExp(`^${newKid}\\s+\\S+\\s+-\\s+yes$`, 'm'), 'the new key signs');
    assert.ok(await issuer.verify(held.token), 'still valid after the rotation');

    const refused = await flock('keys', 'retire', newKid!, '--data-dir', dir);
    assert.notEqual(refused.code, 0);
    assert.match(refused.out, /rotate first/);

    const retired = await flock('keys', 'retire', first.kid, '--data-dir', dir);
    assert.equal(retired.code, 0, retired.out);
    await assert.rejects(issuer.verify(held.token), (e) => e instanceof FlockError && e.code === 'unauthorized' && /retired/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
