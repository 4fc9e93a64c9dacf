/**
 * One trainer per browser profile. The tabs of a profile share IndexedDB and so one
 * coordinator credential, one participant identity: if every tab trained, the
 * coordinator would close each tab's connection when the next one connects. The tabs
 * elect one tab to train; the others follow it (client/app/state-mirror.ts).
 *
 * - Web Locks (every current browser): the trainer holds the exclusive lock
 *   `flock-trainer` for its whole life; the other tabs queue for it, and the browser
 *   grants it to the next one as soon as the trainer's tab closes or crashes.
 * - BroadcastChannel, only where Web Locks is missing: a tab claims the role, waits
 *   a moment for an objection (a trainer's heartbeat, or a claim with a smaller id),
 *   then trains and sends a heartbeat every second; followers claim when the trainer
 *   resigns (its tab closes) or has been silent for a few seconds. If two tabs end up
 *   training anyway (a trainer too busy to answer a claim in time), the one with the
 *   larger id hands back as soon as it hears the other's heartbeat.
 * - Neither: every tab trains on its own, and the page says so.
 */

export type TabRole = 'trainer' | 'follower';
export type ElectionMechanism = 'web-locks' | 'broadcast-channel' | 'none';

/** The lock (and channel) name shared by the tabs of one profile. */
export const TRAINER_LOCK_NAME = 'flock-trainer';

export interface ChannelElectionTiming {
  /** How often the trainer says it is alive. */
  readonly heartbeatMs: number;
  /** How long followers wait without a heartbeat before claiming. */
  readonly trainerTimeoutMs: number;
  /** How long a claim waits for an objection before the claimer trains. */
  readonly claimMs: number;
}

const DEFAULT_TIMING: ChannelElectionTiming = { heartbeatMs: 1000, trainerTimeoutMs: 5000, claimMs: 500 };

export interface ElectionOptions {
  /** Called with every change of this tab's role, the first call included. */
  readonly onRole: (role: TabRole) => void;
  readonly name?: string;
  /** The LockManager; default `navigator.locks`. null: behave as if Web Locks were missing. */
  readonly locks?: LockManager | null;
  /** Opens a BroadcastChannel; default the global one. null: behave as if it were missing. */
  readonly openChannel?: ((name: string) => BroadcastChannel) | null;
  readonly timing?: Partial<ChannelElectionTiming>;
}

export interface TabElection {
  readonly mechanism: ElectionMechanism;
  /** This tab's role now (follower until the first decision). */
  readonly role: TabRole;
  /** Resolves with the first role decided. */
  readonly decided: Promise<TabRole>;
  /** Leaves the election: releases the lock or resigns, so another tab takes over now. */
  close(): void;
}

/** Starts this tab's part in the election of the profile's trainer; `onRole` is never called before this returns. */
export function electTrainer(opts: ElectionOptions): TabElection {
  const name = opts.name ?? TRAINER_LOCK_NAME;
  const locks = opts.locks === undefined ? defaultLocks() : opts.locks;
  const openChannel = opts.openChannel === undefined ? defaultChannel() : opts.openChannel;
  const roles = roleKeeper(opts.onRole);
  if (locks) return lockElection(locks, name, roles);
  if (openChannel) return channelElection(openChannel(name), roles, { ...DEFAULT_TIMING, ...opts.timing });
  // Asynchronously, as with the other mechanisms: the caller's handler may not be ready yet.
  queueMicrotask(() => roles.set('trainer'));
  return { mechanism: 'none', get role() { return roles.role; }, decided: roles.decided, close() {} };
}

function defaultLocks(): LockManager | null {
  return typeof navigator !== 'undefined' && navigator.locks ? navigator.locks : null;
}

function defaultChannel(): ((name: string) => BroadcastChannel) | null {
  return typeof BroadcastChannel === 'function' ? (n) => new BroadcastChannel(n) : null;
}

interface RoleKeeper {
  readonly role: TabRole;
  readonly decided: Promise<TabRole>;
  set(role: TabRole): void;
}

/** Reports role changes (not repeats) and resolves `decided` with the first. */
function roleKeeper(onRole: (role: TabRole) => void): RoleKeeper {
  let current: TabRole | null = null;
  let resolveDecided: (r: TabRole) => void = () => {};
  const decided = new Promise<TabRole>((r) => (resolveDecided = r));
  return {
    get role() {
      return current ?? 'follower';
    },
    decided,
    set(role) {
      if (role === current) return;
      current = role;
      resolveDecided(role);
      onRole(role);
    },
  };
}

function lockElection(locks: LockManager, name: string, roles: RoleKeeper): TabElection {
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  const abort = new AbortController();
  // The lock is held until `held` resolves: for the tab's life unless close() is called.
  const train = async (): Promise<void> => {
    roles.set('trainer');
    await held;
  };
  const queue = (): void => {
    locks.request(name, { signal: abort.signal }, train).catch((err: unknown) => {
      if (!abort.signal.aborted) console.warn('the trainer lock request failed:', err);
    });
  };
  // Ask without waiting first, so a tab knows at once whether it follows; then queue.
  locks
    .request(name, { ifAvailable: true }, async (lock) => {
      if (lock) return train();
      roles.set('follower');
      if (!abort.signal.aborted) queue();
    })
    .catch((err: unknown) => console.warn('the trainer lock request failed:', err));
  return {
    mechanism: 'web-locks',
    get role() {
      return roles.role;
    },
    decided: roles.decided,
    close() {
      abort.abort();
      release();
    },
  };
}

interface ElectionMessage {
  readonly type: 'claim' | 'heartbeat' | 'resign';
  readonly id: string;
}

function readMessage(data: unknown): ElectionMessage | null {
  if (typeof data !== 'object' || data === null) return null;
  const { type, id } = data as Record<string, unknown>;
  if ((type === 'claim' || type === 'heartbeat' || type === 'resign') && typeof id === 'string') return { type, id };
  return null;
}

function channelElection(channel: BroadcastChannel, roles: RoleKeeper, timing: ChannelElectionTiming): TabElection {
  const id = `${Date.now().toString(36).padStart(10, '0')}-${Math.random().toString(36).slice(2, 10)}`;
  let trainerSeenAt = -Infinity;
  let claimTimer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  const post = (type: ElectionMessage['type']): void => channel.postMessage({ type, id } satisfies ElectionMessage);
  const isTrainer = (): boolean => roles.role === 'trainer';

  const claim = (): void => {
    if (claimTimer || closed || isTrainer()) return;
    post('claim');
    claimTimer = setTimeout(() => {
      claimTimer = null;
      roles.set('trainer');
      post('heartbeat');
    }, timing.claimMs);
  };
  const standDown = (): void => {
    if (claimTimer) clearTimeout(claimTimer);
    claimTimer = null;
    trainerSeenAt = Date.now();
    roles.set('follower');
  };

  channel.onmessage = (e: MessageEvent) => {
    const msg = readMessage(e.data);
    if (!msg || msg.id === id || closed) return;
    if (msg.type === 'heartbeat') {
      // Two trainers (a claim went unanswered): the smaller id keeps the role.
      if (!isTrainer() || msg.id < id) standDown();
    } else if (msg.type === 'claim') {
      if (isTrainer()) post('heartbeat');
      else if (claimTimer && msg.id < id) standDown();
    } else if (!isTrainer()) {
      trainerSeenAt = -Infinity;
      claim();
    }
  };
  const tick = setInterval(() => {
    if (isTrainer()) post('heartbeat');
    else if (Date.now() - trainerSeenAt > timing.trainerTimeoutMs) claim();
  }, timing.heartbeatMs);
  claim();

  return {
    mechanism: 'broadcast-channel',
    get role() {
      return roles.role;
    },
    decided: roles.decided,
    close() {
      if (closed) return;
      closed = true;
      clearInterval(tick);
      if (claimTimer) clearTimeout(claimTimer);
      if (isTrainer()) post('resign');
      channel.close();
    },
  };
}
