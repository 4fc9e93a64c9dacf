/** The edge's pure parts: origins, rate specs, the token bucket, client addresses, the serve flags. */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { Command } from 'commander';
import { FlockError } from '../../shared/errors.ts';
import { defaultOrigins, OriginPolicy, parseOrigin, parseOriginList } from './allowed-origins.ts';
import { clientAddress } from './client-address.ts';
import { edgeServeConfig, edgeServeOptions } from './edge-flags.ts';
import { describeRate, formatRateSpec, parseRateSpec } from './rate-spec.ts';
import { payloadBytes } from './socket-guard.ts';
import { TokenBucket } from './token-bucket.ts';

test('default origins: the own origin, loopback names standing in for each other', () => {
  assert.deepEqual(defaultOrigins('127.0.0.1', 8080), ['http://127.0.0.1:8080', 'http://localhost:8080', 'http://[::1]:8080']);
  assert.deepEqual(defaultOrigins('localhost', 80), ['http://127.0.0.1', 'http://localhost', 'http://[::1]']);
  assert.deepEqual(defaultOrigins('flock.example.org', 8080), ['http://flock.example.org:8080']);
  assert.deepEqual(defaultOrigins('0.0.0.0', 9000), ['http://127.0.0.1:9000', 'http://localhost:9000', 'http://[::1]:9000']);
  const policy = new OriginPolicy();
  policy.listening('127.0.0.1', 8080);
  assert.ok(policy.allows(undefined), 'no Origin header: not a browser acting for a site');
  assert.ok(policy.allows('http://localhost:8080'));
  assert.ok(!policy.allows('http://localhost:8081'));
  assert.ok(!policy.allows('null'));
  const configured = new OriginPolicy(['https://app.example.org']);
  configured.listening('127.0.0.1', 8080);
  assert.deepEqual(configured.list, ['https://app.example.org'], 'configured origins replace the defaults');
});

test('origins are parsed strictly: scheme://host[:port], nothing more', () => {
  assert.equal(parseOrigin('HTTPS://App.Example.org:443'), 'https://app.example.org');
  assert.equal(parseOrigin('http://127.0.0.1:5173/'), 'http://127.0.0.1:5173');
  for (const bad of ['app.example.org', 'http://a.example/path', 'ftp://a.example', 'http://a.example?x=1', 'http://u:p@a.example', '*']) {
    assert.throws(() => parseOrigin(bad), (e) => e instanceof FlockError && e.code === 'bad-config', bad);
  }
  assert.deepEqual(parseOriginList('http://a.example, http://b.example,http://a.example'), ['http://a.example', 'http://b.example']);
  assert.throws(() => parseOriginList(' , '), /at least one origin/);
});

test('rate specs: N/window', () => {
  assert.deepEqual(parseRateSpec('30/10m'), { max: 30, windowMs: 600_000 });
  assert.deepEqual(parseRateSpec('1200/1min'), { max: 1200, windowMs: 60_000 });
  assert.deepEqual(parseRateSpec('5/s'), { max: 5, windowMs: 1000 });
  assert.deepEqual(parseRateSpec('100/2h'), { max: 100, windowMs: 7_200_000 });
  for (const bad of ['30', '0/1m', '30/0s', '30/100ms', 'x/1m', '30/1d']) assert.throws(() => parseRateSpec(bad), (e) => e instanceof FlockError && e.code === 'bad-config', bad);
  assert.equal(describeRate({ max: 30, windowMs: 600_000 }), '30 per 10 min');
  assert.equal(describeRate({ max: 5, windowMs: 30_000 }), '5 per 30 s');
  for (const text of ['30/10m', '1200/1m', '5/30s', '100/2h']) assert.equal(formatRateSpec(parseRateSpec(text)), text);
});

test('token bucket: a burst, then the rate', () => {
  const b = new TokenBucket(2, 3, 0);
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
  assert.equal(b.take(499), false, 'just under one token refilled');
  assert.equal(b.take(500), true);
  assert.equal(b.take(10_000), true);
  assert.deepEqual([b.take(10_000), b.take(10_000), b.take(10_000)], [true, true, false], 'refill stops at the burst');
  assert.equal(b.take(5_000), false, 'a clock going back refills nothing');
  assert.throws(() => new TokenBucket(0, 1, 0), RangeError);
});

test('payload bytes: binary by length, the rest as JSON, acknowledgement callbacks ignored', () => {
  assert.equal(payloadBytes([new Uint8Array(100)]), 100);
  assert.equal(payloadBytes([Buffer.alloc(10), new ArrayBuffer(5)]), 15);
  assert.equal(payloadBytes([{ a: 1 }]), Buffer.byteLength('[{"a":1}]'));
  assert.equal(payloadBytes([{ e: 'é' }, () => {}]), Buffer.byteLength('[{"e":"é"}]'));
  assert.equal(payloadBytes([]), 0);
});

test('client address: trusts exactly the configured number of proxies', () => {
  const req = (remote: string, xff?: string) => ({ socket: { remoteAddress: remote }, headers: xff ? { 'x-forwarded-for': xff } : {} }) as unknown as IncomingMessage;
  assert.equal(clientAddress(req('10.0.0.1', '1.2.3.4'), 0), '10.0.0.1', 'no proxy trusted: a client cannot spoof its address');
  assert.equal(clientAddress(req('10.0.0.1', '6.6.6.6, 1.2.3.4'), 1), '1.2.3.4', 'one proxy: the address it saw');
  assert.equal(clientAddress(req('10.0.0.1', '6.6.6.6, 1.2.3.4'), 2), '6.6.6.6');
  assert.equal(clientAddress(req('10.0.0.1', '1.2.3.4'), 5), '1.2.3.4', 'never past the first address');
  assert.equal(clientAddress(req('10.0.0.1'), 1), '10.0.0.1');
});

test('serve flags of the edge: parsed, defaults, secrets from the environment', () => {
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const cmd = edgeServeOptions(new Command('serve').exitOverride().configureOutput({ writeErr: () => {} }));
    cmd.parse(argv, { from: 'user' });
    return edgeServeConfig(cmd.opts(), env);
  };
  const d = parse([]);
  assert.deepEqual(d.credentialRate, { max: 30, windowMs: 600_000 });
  assert.equal(d.credentialTtlSeconds, 30 * 86_400);
  assert.equal(d.allowedOrigins, undefined);
  assert.equal(d.inviteSecret, undefined);
  const o = parse(['--allowed-origins', 'http://127.0.0.1:5173', '--credential-rate', '5/1m', '--message-rate', '10', '--credential-ttl', '7', '--trust-proxy', '1'], { FLOCK_INVITE_SECRET: 'from-env', FLOCK_OPERATOR_TOKEN: 'operator-from-env-0123' });
  assert.deepEqual(o.allowedOrigins, ['http://127.0.0.1:5173']);
  assert.deepEqual(o.credentialRate, { max: 5, windowMs: 60_000 });
  assert.deepEqual(o.messageRate, { perSecond: 10, burst: 20 });
  assert.equal(o.credentialTtlSeconds, 7 * 86_400);
  assert.equal(o.trustProxy, 1);
  assert.equal(o.inviteSecret, 'from-env');
  assert.equal(o.operatorToken, 'operator-from-env-0123');
  assert.equal(parse(['--invite-secret', 'flag'], { FLOCK_INVITE_SECRET: 'env' }).inviteSecret, 'flag', 'the flag wins over the environment');
  assert.throws(() => parse(['--allowed-origins', 'evil']), /not an origin/);
  assert.throws(() => parse(['--credential-rate', '30']), /N\/window/);
});
