/**
 * Real process death: a child process saves versions in a loop and is killed with
 * SIGKILL at random moments (mostly inside a save: that is where it spends its time).
 * After each kill the folder is opened again and must be sound: every listed version
 * verifies, the latest never goes back, every save the child saw resolve survived,
 * nextVersion() is past every file on disk and no .tmp file survives open().
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import { CheckpointStore } from './checkpoint-store.ts';
import { assertSound, tempDataDir } from './store-test-fixtures.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = join(REPO, 'coordinator/store/save-loop-child.ts');
const KILLS = 8;

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

/** Starts the child, waits for "ready", lets it save for `delayMs`, kills it; returns what it acknowledged. */
async function runAndKill(dir: string, delayMs: number): Promise<{ ready: number; acknowledged: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (/^ready /m.test(out)) resolve();
      };
      child.stdout.on('data', check);
      void exited.then(() => reject(new Error(`child exited before ready:\n${out}\n${err}`)));
    });
    await new Promise((r) => setTimeout(r, delayMs));
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  assert.equal(child.signalCode, 'SIGKILL', `the child must die by SIGKILL, not on its own:\n${err}`);
  const ready = Number(/^ready (-?\d+)/m.exec(out)![1]);
  const saved = [...out.matchAll(/^saved (\d+)$/gm)].map((m) => Number(m[1]));
  return { ready, acknowledged: Math.max(-1, ...saved) };
}

test(`SIGKILL at ${KILLS} random moments of a save loop: every reopen is sound and nothing goes back`, { timeout: 180_000 }, async () => {
  const t = await tempDataDir();
  cleanups.push(t.cleanup);
  const seed = Date.now() % 100_000;
  const random = new SeededRandom(seed);
  let previousLatest = -1;
  for (let i = 0; i < KILLS; i++) {
    const delayMs = random.int(400);
    const run = await runAndKill(t.dir, delayMs);
    const warnings: string[] = [];
    const store = await CheckpointStore.open(t.dir, { keep: 3, onWarning: (m) => warnings.push(m) });
    const latest = (await store.latest())?.version ?? -1;
    const context = `seed ${seed}, kill ${i + 1} after ${delayMs} ms; child resumed at ${run.ready}, acknowledged ${run.acknowledged}; reopened at ${latest}; warnings:\n${warnings.join('\n')}`;
    assert.equal(run.ready, previousLatest, `the child resumed where the last check left off (${context})`);
    assert.ok(latest >= previousLatest, `latest went back (${context})`);
    assert.ok(latest >= run.acknowledged, `an acknowledged save was lost (${context})`);
    // nextVersion() itself may come back by one: open() counts a leftover .tmp file's
    // number and then removes the file, so a kill before the next write reuses a number
    // nothing ever read. It is always past every file on disk (assertSound).
    assert.ok(store.nextVersion() > latest, `nextVersion must be past the latest (${context})`);
    await assertSound(t.dir, store);
    console.log(`kill ${i + 1} after ${delayMs} ms: acknowledged ${run.acknowledged}, reopened at ${latest}, next ${store.nextVersion()}; repairs: ${warnings.map((w) => w.replace(/ \(.*$/, '').slice(0, 90)).join(' | ') || 'none'}`);
    previousLatest = latest;
  }
  assert.ok(previousLatest >= 0, 'the children saved something');
});
