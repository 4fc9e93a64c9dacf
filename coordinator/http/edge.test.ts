/**
 * The coordinator's edge over real HTTP and socket.io on loopback: origins, credentials
 * at the handshake, the per-message guard (unknown events, sizes, rate), heartbeats,
 * connection caps, the credential endpoint's rate limit and invite, the admin API's
 * token, body limits and security headers.
 */
import { MAX_ADDED_ITEMS } from '../catalog/catalog-store.ts';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test as nodeTest } from 'node:test';
import pino from 'pino';
import { io, type Socket } from 'socket.io-client';
import { EVENTS, MAX_CONTROL_MESSAGE_BYTES, PROTOCOL_VERSION, type CredentialResponse, type ProtocolErrorMessage } from '../../shared/protocol/messages.ts';
import { modelNamespace } from '../../shared/protocol/model-routes.ts';
import { createModel } from '../../shared/model/model-registry.ts';
import { maxEncodedUpdateBytes } from '../../shared/update/tensor-codec.ts';
import { CredentialIssuer } from '../identity/credential-issuer.ts';
import { operatorTokenFile } from '../identity/operator-token.ts';
import { DEFAULT_SERVE_CONFIG, type ServeConfig } from '../serve-config.ts';
import { startCoordinator, type RunningCoordinator } from '../server.ts';
import { readFile } from 'node:fs/promises';

const silent = pino({ level: 'silent' });
/** Every test here waits on a refusal or a close; the bound keeps a broken guard from hanging the run (a liveness bound, not a timing assertion). */
const test = (name: string, fn: () => Promise<void>) => nodeTest(name, { timeout: 60_000 }, fn);

async function withCoordinator(over: Partial<ServeConfig>, fn: (c: RunningCoordinator, dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-edge-'));
  const c = await startCoordinator({ ...DEFAULT_SERVE_CONFIG, models: ['mf'], port: 0, dataDir, dim: 4, minClients: 50, staticDir: path.join(dataDir, 'none'), ...over }, silent);
  try {
    await fn(c, dataDir);
  } finally {
    await c.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function credential(url: string, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(`${url}/api/credentials`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: JSON.stringify(init.body ?? {}),
  });
}

async function token(url: string): Promise<string> {
  const res = await credential(url);
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as CredentialResponse).token;
}

type ConnectError = Error & { data?: { code?: string; message?: string }; description?: unknown };

/** A socket on the mf namespace: resolves connected, rejects with the connect error. */
function connectMf(url: string, o: { token?: string; headers?: Record<string, string> } = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = io(`${url}${modelNamespace('mf')}`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: o.token ? { token: o.token } : {},
      extraHeaders: o.headers,
    });
    s.once('connect', () => resolve(s));
    s.once('connect_error', (err) => {
      s.close();
      reject(err);
    });
  });
}

/** Resolves with the protocol error the coordinator sent, once it has also closed the connection. */
function refusedAndClosed(s: Socket): Promise<{ error: ProtocolErrorMessage; reason: string }> {
  return new Promise((resolve) => {
    let error: ProtocolErrorMessage | undefined;
    s.on(EVENTS.protocolError, (e: ProtocolErrorMessage) => (error ??= e));
    s.once('disconnect', (reason) => resolve({ error: error!, reason }));
  });
}

const join = (s: Socket) => s.emit(EVENTS.join, { protocolVersion: PROTOCOL_VERSION, backend: 'cpu', eligible: true });

test('a page from a foreign origin cannot open a socket; the own origin, allowed origins and Node clients can', async () => {
  await withCoordinator({}, async (c) => {
    const t = await token(c.url);
    const err: ConnectError = await connectMf(c.url, { token: t, headers: { Origin: 'http://evil.example' } }).then(
      (s) => {
        s.close();
        throw new Error('a foreign origin was let in');
      },
      (e: ConnectError) => e,
    );
    assert.match(err.message, /websocket error/);
    // engine.io answers every refused websocket upgrade with 400 and the reason as its body.
    assert.match(String((err.description as { message?: string } | undefined)?.message ?? err.description), /Unexpected server response: 400/);
    const port = new URL(c.url).port;
    for (const origin of [undefined, `http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
      const s = await connectMf(c.url, { token: t, headers: origin ? { Origin: origin } : {} });
      s.close();
    }
    // The refusal as the browser's network stack sees it: a message that says who may allow it.
    const raw = await rawUpgrade(port, { Origin: 'http://evil.example' });
    assert.match(raw, /^HTTP\/1\.1 400/);
    assert.match(raw, /forbidden-origin: pages from http:\/\/evil\.example may not use this coordinator; its operator can allow them with --allowed-origins/);
  });
  await withCoordinator({ allowedOrigins: ['https://app.example.org'] }, async (c) => {
    const t = await token(c.url);
    (await connectMf(c.url, { token: t, headers: { Origin: 'https://app.example.org' } })).close();
    await assert.rejects(connectMf(c.url, { token: t, headers: { Origin: `http://127.0.0.1:${new URL(c.url).port}` } }), /websocket error/);
  });
});

test('REST answers carry CORS headers only for allowed origins; a foreign page cannot POST', async () => {
  await withCoordinator({ allowedOrigins: ['https://app.example.org'] }, async (c) => {
    const allowed = await fetch(`${c.url}/api/health`, { headers: { Origin: 'https://app.example.org' } });
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example.org');
    const foreign = await fetch(`${c.url}/api/health`, { headers: { Origin: 'http://evil.example' } });
    assert.equal(foreign.status, 200);
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    const preflight = await fetch(`${c.url}/api/credentials`, { method: 'OPTIONS', headers: { Origin: 'https://app.example.org', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    const post = await credential(c.url, { headers: { Origin: 'http://evil.example' } });
    assert.equal(post.status, 403);
    assert.equal(((await post.json()) as { error: { code: string } }).error.code, 'forbidden-origin');
    assert.equal((await credential(c.url, { headers: { Origin: 'https://app.example.org' } })).status, 200);
  });
});

test('credentials of another coordinator, expired ones and ones of a retired key are refused at the handshake', async () => {
  await withCoordinator({}, async (c, dataDir) => {
    const otherDir = await mkdtemp(path.join(tmpdir(), 'flock-edge-other-'));
    try {
      const foreign = await (await CredentialIssuer.open(otherDir, silent)).issue();
      const expired = await (await CredentialIssuer.open(dataDir, silent, { now: () => Date.now() - 31 * 86_400_000 })).issue();
      for (const [what, t, why] of [
        ['other key', foreign.token, /does not know/],
        ['expired', expired.token, /expired/],
        ['no credential', undefined, /no credential: request one with POST \/api\/credentials/],
      ] as const) {
        await assert.rejects(connectMf(c.url, { token: t }), (e: ConnectError) => {
          assert.equal(e.data?.code, 'unauthorized', what);
          assert.match(e.message, why, what);
          return true;
        });
      }
      const held = await token(c.url);
      await c.issuer.rotate();
      (await connectMf(c.url, { token: held })).close(); // still fine after a rotation
      const oldKid = (await c.issuer.list()).find((k) => !k.signing)!.kid;
      await c.issuer.retire(oldKid);
      await assert.rejects(connectMf(c.url, { token: held }), (e: ConnectError) => e.data?.code === 'unauthorized' && /retired key/.test(e.message));
      (await connectMf(c.url, { token: await token(c.url) })).close();
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });
});

test('an event a participant never sends is refused and the connection closed', async () => {
  await withCoordinator({}, async (c) => {
    const s = await connectMf(c.url, { token: await token(c.url) });
    const done = refusedAndClosed(s);
    s.emit(EVENTS.roundStart, { round: 1, version: 0 });
    const { error, reason } = await done;
    assert.equal(error.code, 'malformed');
    assert.match(error.message, /'round:start' is not a message of protocol 3 on \/models\/mf \(a participant sends join, eligibility, update\)/);
    assert.equal(reason, 'io server disconnect');
  });
});

test('a join over the control-message limit is refused and the connection closed', async () => {
  await withCoordinator({}, async (c) => {
    const s = await connectMf(c.url, { token: await token(c.url) });
    const done = refusedAndClosed(s);
    s.emit(EVENTS.join, { protocolVersion: PROTOCOL_VERSION, backend: 'x'.repeat(MAX_CONTROL_MESSAGE_BYTES), eligible: true });
    const { error } = await done;
    assert.equal(error.code, 'too-large');
    assert.match(error.message, new RegExp(`join of \\d+ bytes is over this coordinator's limit of ${MAX_CONTROL_MESSAGE_BYTES} bytes`));
  });
});

test('an update over the model\'s size bound is refused before the round engine sees it, and counted', async () => {
  await withCoordinator({}, async (c) => {
    // Sized for the largest catalog the operator may grow to (coordinator/server.ts), not today's 400 items.
    const limit = maxEncodedUpdateBytes(createModel({ kind: 'mf', numItems: 400 + MAX_ADDED_ITEMS, dim: 4 }).spec);
    const s = await connectMf(c.url, { token: await token(c.url) });
    join(s);
    await new Promise((r) => s.once(EVENTS.welcome, r));
    const done = refusedAndClosed(s);
    s.emit(EVENTS.update, new Uint8Array(limit + 1));
    const { error } = await done;
    assert.equal(error.code, 'too-large');
    assert.match(error.message, new RegExp(`update of ${limit + 1} bytes is over this coordinator's limit of ${limit} bytes on /models/mf`));
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    assert.match(metrics, /flock_updates_rejected_total\{model="mf",code="too-large"\} 1/);
  });
});

test('the message rate limit binds per connection', async () => {
  await withCoordinator({ messageRate: { perSecond: 0.01, burst: 5 } }, async (c) => {
    const s = await connectMf(c.url, { token: await token(c.url) });
    const done = refusedAndClosed(s);
    join(s);
    for (let i = 0; i < 20; i++) s.emit(EVENTS.eligibility, { eligible: i % 2 === 0 });
    const { error } = await done;
    assert.equal(error.code, 'rate-limited');
    assert.match(error.message, /more than 0\.01 messages per second \(burst 5\) on one connection/);
  });
});

test('a connection that stops answering heartbeats is closed', async () => {
  await withCoordinator({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 100 }, async (c) => {
    // A raw websocket upgrade that then never answers a ping.
    const response = await rawUpgrade(new URL(c.url).port, {}, { waitForClose: true });
    assert.match(response, /^HTTP\/1\.1 101/);
    assert.match(response, /^0\{.*"pingInterval":100,"pingTimeout":100/m, 'the open packet announces the heartbeat');
    assert.match(response, /^2$/m, 'the server pinged');
    assert.match(response, /^close \d*$/m, 'and, unanswered, closed the connection');
  });
});

test('connections per address are capped', async () => {
  await withCoordinator({ maxConnectionsPerAddress: 2 }, async (c) => {
    const t = await token(c.url);
    const a = await connectMf(c.url, { token: t });
    const b = await connectMf(c.url, { token: await token(c.url) });
    await assert.rejects(connectMf(c.url, { token: await token(c.url) }), /websocket error/);
    a.close();
    const freed = async (): Promise<Socket> => connectMf(c.url, { token: t }).catch(async () => {
      await new Promise((r) => setTimeout(r, 20));
      return freed();
    });
    (await freed()).close(); // a slot is free again once one closed
    b.close();
  });
});

test('the credential rate limit binds per address; the operator is not limited', async () => {
  await withCoordinator({ credentialRate: { max: 3, windowMs: 600_000 } }, async (c, dataDir) => {
    for (let i = 0; i < 3; i++) assert.equal((await credential(c.url)).status, 200);
    const limited = await credential(c.url);
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    const body = (await limited.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'rate-limited');
    assert.match(body.error.message, /^too many credential requests from this address \(at most 3 per 10 min\): try again in \d+ s$/);
    const operator = (await readFile(operatorTokenFile(dataDir), 'utf8')).trim();
    assert.equal((await credential(c.url, { headers: { Authorization: `Bearer ${operator}` } })).status, 200);
    assert.equal((await credential(c.url, { headers: { Authorization: 'Bearer not-the-operator-token' } })).status, 429);
    // Other API routes have their own, generous limit.
    assert.equal((await fetch(`${c.url}/api/health`)).status, 200);
  });
});

test('with an invite secret, only requests that carry it get a credential', async () => {
  await withCoordinator({ inviteSecret: 'correct horse battery staple' }, async (c) => {
    for (const body of [{}, { invite: 'wrong' }]) {
      const res = await credential(c.url, { body });
      assert.equal(res.status, 401);
      const err = ((await res.json()) as { error: { code: string; message: string } }).error;
      assert.equal(err.code, 'unauthorized');
      assert.match(err.message, /invit/);
    }
    assert.equal((await credential(c.url, { body: { invite: 'correct horse battery staple' } })).status, 200);
  });
  await withCoordinator({}, async (c) => {
    assert.equal((await credential(c.url)).status, 200, 'no invite needed when none is configured');
  });
});

test('admin routes need the operator token; with it, keys rotate and retire on the running coordinator', async () => {
  await withCoordinator({ operatorToken: 'operator-token-for-tests-0123456789' }, async (c) => {
    const admin = (p: string, method: string, auth?: string) => fetch(`${c.url}/api/admin${p}`, { method, headers: auth ? { Authorization: auth } : {} });
    for (const auth of [undefined, 'Bearer wrong-token-wrong-token', 'Basic b3BlcmF0b3I=', 'operator-token-for-tests-0123456789']) {
      const res = await admin('/keys/rotate', 'POST', auth);
      assert.equal(res.status, 401, String(auth));
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unauthorized');
      assert.equal((await admin('/keys', 'GET', auth)).status, 401);
    }
    assert.equal((await c.issuer.list()).length, 1, 'nothing rotated without the token');
    const bearer = 'Bearer operator-token-for-tests-0123456789';
    const held = await token(c.url);
    const rotated = (await (await admin('/keys/rotate', 'POST', bearer)).json()) as { rotated: { kid: string }; keys: { kid: string }[] };
    assert.equal(rotated.keys.length, 2);
    const oldKid = rotated.keys.find((k) => k.kid !== rotated.rotated.kid)!.kid;
    (await connectMf(c.url, { token: held })).close();
    assert.equal((await admin(`/keys/${rotated.rotated.kid}/retire`, 'POST', bearer)).status, 409, 'the signing key cannot be retired');
    assert.equal((await admin('/keys/nope/retire', 'POST', bearer)).status, 404);
    assert.equal((await admin(`/keys/${oldKid}/retire`, 'POST', bearer)).status, 200);
    await assert.rejects(connectMf(c.url, { token: held }), (e: ConnectError) => e.data?.code === 'unauthorized');
  });
});

test('JSON bodies are limited and parsed strictly; pages get security headers', async () => {
  await withCoordinator({}, async (c) => {
    const big = await credential(c.url, { body: { invite: 'x'.repeat(4096) } });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'too-large');
    const bad = await fetch(`${c.url}/api/credentials`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"invite":' });
    assert.equal(bad.status, 400);
    const extra = await credential(c.url, { body: { participantId: 'me-me-me-me-me-me-me' } });
    assert.equal(extra.status, 400, 'a client cannot choose its participant id');
    const page = await fetch(`${c.url}/`);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
    assert.match(csp, /connect-src 'self'/);
    assert.doesNotMatch(csp, /upgrade-insecure-requests|unsafe-inline|'unsafe-eval'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('x-powered-by'), null);
  });
});

/**
 * A websocket upgrade to engine.io written by hand, so a test sees the raw HTTP answer
 * and can stay silent afterwards. Resolves with the HTTP head and body the server sent
 * and the text frames that followed, once the server refused the upgrade or (with
 * `waitForClose`) sent a websocket close frame.
 */
function rawUpgrade(port: string, headers: Record<string, string>, o: { waitForClose?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect(Number(port), '127.0.0.1');
    let buf = Buffer.alloc(0);
    let head: string | null = null;
    const frames: string[] = [];
    const finish = () => {
      sock.destroy();
      resolve([head ?? buf.toString('latin1'), ...frames].join('\n'));
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (head === null) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        if (!head.startsWith('HTTP/1.1 101')) return; // an error answer: its body follows, then the server closes
        if (!o.waitForClose) return finish();
      }
      if (!head.startsWith('HTTP/1.1 101')) return;
      // Unmasked server frames: FIN|opcode, length (7 bits, or 126 + 16 bits), payload.
      while (buf.length >= 2) {
        const opcode = buf[0] & 0x0f;
        let len = buf[1] & 0x7f;
        let at = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          at = 4;
        }
        if (buf.length < at + len) return;
        const payload = buf.subarray(at, at + len);
        buf = buf.subarray(at + len);
        if (opcode === 0x8) {
          frames.push(`close ${payload.length >= 2 ? payload.readUInt16BE(0) : ''}`);
          return finish();
        }
        if (opcode === 0x1) frames.push(payload.toString('utf8'));
      }
    });
    sock.on('close', () => resolve([head ?? '', buf.toString('latin1'), ...frames].join('\n')));
    sock.on('error', reject);
    const lines = [
      'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      '',
      '',
    ];
    sock.write(lines.join('\r\n'));
  });
}
