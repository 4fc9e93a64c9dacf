import assert from 'node:assert/strict';
import { test } from 'node:test';
import { electTrainer, type TabElection, type TabRole } from './tab-election.ts';

/** An exclusive-only LockManager, enough for the election: a queue per name, ifAvailable, abort. */
function fakeLocks(): LockManager {
  const held = new Set<string>();
  const waiting = new Map<string, (() => void)[]>();
  const grant = (name: string): void => {
    const next = waiting.get(name)?.shift();
    if (next) next();
  };
  const request = (name: string, a: unknown, b?: unknown): Promise<unknown> => {
    const options = (typeof a === 'function' ? {} : a) as LockOptions;
    const callback = (typeof a === 'function' ? a : b) as LockGrantedCallback<unknown>;
    const run = async (): Promise<unknown> => {
      held.add(name);
      try {
        return await callback({ name, mode: 'exclusive' } as Lock);
      } finally {
        held.delete(name);
        grant(name);
      }
    };
    if (!held.has(name)) return run();
    if (options.ifAvailable) return Promise.resolve(callback(null));
    return new Promise((resolve, reject) => {
      const start = () => void run().then(resolve, reject);
      const queue = waiting.get(name) ?? [];
      queue.push(start);
      waiting.set(name, queue);
      options.signal?.addEventListener('abort', () => {
        queue.splice(queue.indexOf(start), 1);
        reject(new DOMException('aborted', 'AbortError'));
      });
    });
  };
  return { request, query: async () => ({}) } as unknown as LockManager;
}

interface Tab {
  readonly election: TabElection;
  readonly roles: TabRole[];
}

function openTab(opts: Omit<Parameters<typeof electTrainer>[0], 'onRole'>): Tab {
  const roles: TabRole[] = [];
  const election = electTrainer({ ...opts, onRole: (r) => roles.push(r) });
  return { election, roles };
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const trainers = (tabs: readonly Tab[]) => tabs.filter((t) => t.election.role === 'trainer').length;

test('Web Locks: the first tab trains, the others follow, and the next takes over when the trainer closes', async () => {
  const locks = fakeLocks();
  const a = openTab({ locks, name: 'unit-locks' });
  assert.equal(await a.election.decided, 'trainer');
  const b = openTab({ locks, name: 'unit-locks' });
  const c = openTab({ locks, name: 'unit-locks' });
  assert.equal(await b.election.decided, 'follower');
  assert.equal(await c.election.decided, 'follower');
  assert.equal(a.election.mechanism, 'web-locks');

  a.election.close();
  await waitUntil('b takes over', () => b.election.role === 'trainer');
  assert.equal(c.election.role, 'follower');
  assert.deepEqual(b.roles, ['follower', 'trainer']);
  c.election.close(); // a follower leaving gives up its place in the queue
  b.election.close();
  assert.equal(c.election.role, 'follower');
});

test('BroadcastChannel (no Web Locks): one trainer among tabs opened together, a follower takes over when it closes', async () => {
  const timing = { heartbeatMs: 20, trainerTimeoutMs: 200, claimMs: 40 };
  const name = `unit-channel-${process.pid}`;
  const tabs = [0, 1, 2].map(() => openTab({ locks: null, name, timing }));
  try {
    assert.equal(tabs[0].election.mechanism, 'broadcast-channel');
    await Promise.all(tabs.map((t) => t.election.decided));
    // Wait past several heartbeats: a tab that trained too would hand back by now.
    await waitUntil('exactly one trainer', () => trainers(tabs) === 1 && tabs.every((t) => t.roles.length > 0));
    const first = tabs.find((t) => t.election.role === 'trainer')!;
    const late = openTab({ locks: null, name, timing });
    tabs.push(late);
    assert.equal(await late.election.decided, 'follower', 'a tab opened next to a trainer follows it');

    first.election.close();
    const rest = tabs.filter((t) => t !== first);
    await waitUntil('a follower takes over', () => trainers(rest) === 1);
    await new Promise((r) => setTimeout(r, 5 * timing.heartbeatMs));
    assert.equal(trainers(rest), 1, 'still exactly one trainer after the handover settles');
  } finally {
    for (const t of tabs) t.election.close();
  }
});

test('BroadcastChannel: a silent trainer (tab frozen or crashed, no resign) is replaced after the timeout', async () => {
  const timing = { heartbeatMs: 20, trainerTimeoutMs: 150, claimMs: 40 };
  const name = `unit-silent-${process.pid}`;
  // The trainer that will go silent: answers the first claim with a heartbeat, then never again (no resign).
  const crashed = new BroadcastChannel(name);
  let answered = false;
  crashed.onmessage = () => {
    if (!answered) crashed.postMessage({ type: 'heartbeat', id: '0' });
    answered = true;
  };
  const b = openTab({ locks: null, name, timing });
  try {
    assert.equal(await b.election.decided, 'follower', 'a heartbeat was heard: follow');
    await waitUntil('b takes over from the silent trainer', () => b.election.role === 'trainer');
  } finally {
    crashed.close();
    b.election.close();
  }
});

test('neither Web Locks nor BroadcastChannel: the tab trains on its own and says which mechanism it used', async () => {
  const t = openTab({ locks: null, openChannel: null });
  assert.equal(t.election.mechanism, 'none');
  assert.deepEqual(t.roles, [], 'onRole is never called before electTrainer returns');
  assert.equal(await t.election.decided, 'trainer');
});
