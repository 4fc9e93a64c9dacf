/**
 * 16 participants each send a 60 MB message at once to a coordinator in its own process.
 * The transport must refuse each from its frame header (socket.io maxHttpBufferSize →
 * ws maxPayload), closing the connection without buffering the payload: the coordinator
 * stays up and its peak memory grows by far less than 16 × 60 MB.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import { CredentialResponseSchema, EVENTS, HealthResponseSchema, PROTOCOL_VERSION } from '../../shared/protocol/messages.ts';
import { modelNamespace } from '../../shared/protocol/model-routes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MB = 2 ** 20;
const SENDERS = 16;
const MESSAGE_BYTES = 60 * MB;

/** Starts `flock serve` in a child process; resolves with its URL once it listens. */
async function serve(dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [
    '--import', 'tsx', 'coordinator/cli.ts', 'serve',
    '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--static', path.join(dataDir, 'none'),
    '--models', 'mf', '--dim', '4', '--min-clients', '1000',
    // Senders busy pushing 60 MB must not be dropped for a missed ping: the refusal has to come from the size check.
    '--heartbeat-interval', '120000', '--heartbeat-timeout', '120000',
  ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /"url":"(http:\/\/[^"]+)".*"msg":"listening"/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited (${code}) before listening:\n${out}`)));
  });
  return { url, child };
}

/** Resident and peak resident memory of a process, from /proc (Linux). */
async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

async function joined(url: string): Promise<Socket> {
  const res = await fetch(`${url}/api/credentials`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const { token } = CredentialResponseSchema.parse(await res.json());
  const socket = io(`${url}${modelNamespace('mf')}`, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token } });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const welcome = new Promise((r) => socket.once(EVENTS.welcome, r));
  socket.emit(EVENTS.join, { protocolVersion: PROTOCOL_VERSION, backend: 'cpu', eligible: true });
  await welcome;
  return socket;
}

test(`${SENDERS} parallel ${MESSAGE_BYTES / MB} MB messages are refused unbuffered: connections closed, coordinator up, memory flat`, { skip: !existsSync('/proc/self/status') && 'needs /proc (Linux)', timeout: 240_000 }, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'flock-oversize-'));
  const { url, child } = await serve(dataDir);
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < SENDERS; i++) sockets.push(await joined(url));
    const before = await memory(child.pid!);
    const huge = Buffer.alloc(MESSAGE_BYTES, 7);
    const closed = sockets.map((s) => new Promise<string>((resolve) => s.once('disconnect', resolve)));
    for (const s of sockets) s.emit(EVENTS.update, huge);
    const reasons = await Promise.all(closed);
    const after = await memory(child.pid!);
    const growth = after.peak - before.rss;
    console.log(`coordinator memory: RSS ${(before.rss / MB).toFixed(0)} MB before, peak ${(after.peak / MB).toFixed(0)} MB after (growth ${(growth / MB).toFixed(1)} MB; ${SENDERS} × ${MESSAGE_BYTES / MB} MB = ${(SENDERS * MESSAGE_BYTES) / MB} MB sent)`);
    assert.ok(growth < (SENDERS * MESSAGE_BYTES) / 6, `peak memory grew by ${(growth / MB).toFixed(0)} MB`);
    assert.ok(reasons.every((r) => r === 'transport close' || r === 'transport error'), `closed by the transport: ${reasons.join(', ')}`);

    const health = HealthResponseSchema.parse(await (await fetch(`${url}/api/health`)).json());
    assert.equal(health.models.mf.clients, 0, 'every sender is gone');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, new RegExp(`^flock_edge_refusals_total\\{reason="too-large"\\} ${SENDERS}$`, 'm'), 'each oversized frame counted');
  } finally {
    for (const s of sockets) s.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }
});
