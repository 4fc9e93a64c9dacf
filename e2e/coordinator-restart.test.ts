import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runSocketFleet } from '../coordinator/fleet/socket-fleet.ts';
import { HealthResponseSchema } from '../shared/protocol/messages.ts';
import { startCoordinator, type RunningCoordinator } from './harness/coordinator-process.ts';

/** A port that was free a moment ago, so the restarted coordinator can listen on the same one. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The embedding model's version and round (the fleet trains that one; the sequence model is served beside it, idle). */
const health = async (url: string) => HealthResponseSchema.parse(await (await fetch(`${url}/api/health`)).json()).models.mf;

const running: RunningCoordinator[] = [];
let dataDir = '';
after(async () => {
  for (const c of running) await c.stop().catch(() => undefined);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test('kill -9 mid-run: the coordinator resumes from the last written version and the fleet carries on', { timeout: 240_000 }, async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'flock-restart-'));
  const port = await freePort();
  const args = ['--port', String(port), '--min-clients', '6', '--round-delay', '50', '--round-interval', '0', '--static', path.join(dataDir, 'no-web-app')];
  const first = await startCoordinator({ dataDir, extraArgs: args });
  running.push(first);

  const rounds = 6;
  const fleet = runSocketFleet({ url: first.url, model: 'mf', clients: 6, rounds, seed: 3, stallTimeoutMs: 60_000, log: (l) => console.log(`[fleet] ${l}`) });

  let before = await health(first.url);
  while (before.version < 2) {
    await new Promise((r) => setTimeout(r, 100));
    before = await health(first.url);
  }
  await first.stop('SIGKILL');
  assert.equal(first.process.signalCode, 'SIGKILL');
  console.log(`killed the coordinator at version ${before.version}, round ${before.round}`);

  const second = await startCoordinator({ dataDir, extraArgs: args });
  running.push(second);
  const resumed = await health(second.url);
  assert.ok(second.logs.some((l) => l.includes('resumed from checkpoint')), 'second start must resume, not reinitialise');
  // A round may have been written between the last health poll and the kill.
  assert.ok(resumed.version === before.version || resumed.version === before.version + 1, `resumed at ${resumed.version}, killed at ${before.version}`);

  const report = await fleet;
  assert.ok(report.endVersion >= rounds, `fleet reached version ${report.endVersion}`);
  const after = await health(second.url);
  assert.ok(after.version > resumed.version, 'training continued after the restart');
  const versions = report.history.map((h) => h.version);
  assert.deepEqual(versions, [...versions].sort((a, b) => a - b), 'versions only move forward');
});
