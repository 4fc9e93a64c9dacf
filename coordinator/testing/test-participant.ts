/**
 * Raw socket.io participants for the coordinator's own tests: real HTTP and socket.io
 * over loopback, no Participant class, so a test can send exactly what an attacker
 * with the developer tools would.
 */
import { io, type Socket } from 'socket.io-client';
import type { ModelKind } from '../../shared/model/model-registry.ts';
import { CredentialResponseSchema, EVENTS, PROTOCOL_VERSION, type CredentialResponse, type UpdateRejectedMessage } from '../../shared/protocol/messages.ts';
import { modelNamespace } from '../../shared/protocol/model-routes.ts';

/** Asks the coordinator for a new participant credential (POST /api/credentials). */
export async function issueCredential(url: string, body: object = {}): Promise<CredentialResponse> {
  const res = await fetch(`${url}/api/credentials`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST /api/credentials: HTTP ${res.status} ${await res.text()}`);
  return CredentialResponseSchema.parse(await res.json());
}

export interface TestSocketOptions {
  readonly token?: string;
  readonly auth?: Record<string, unknown>;
  readonly extraHeaders?: Record<string, string>;
}

/** Opens a socket on a model namespace with the given credential; resolves once connected, rejects with the connect error. */
export function connectSocket(url: string, kind: ModelKind, o: TestSocketOptions = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(`${url}${modelNamespace(kind)}`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: o.auth ?? (o.token ? { token: o.token } : {}),
      extraHeaders: o.extraHeaders,
    });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** A fresh identity joined to a model's rounds: the socket, its participant id, and the welcome. */
export async function joinAs(
  url: string,
  kind: ModelKind,
  o: { eligible?: boolean; hasNewData?: boolean; credential?: CredentialResponse; beforeJoin?: (socket: Socket) => void } = {},
): Promise<{ socket: Socket; participantId: string; token: string }> {
  const cred = o.credential ?? (await issueCredential(url));
  const socket = await connectSocket(url, kind, { token: cred.token });
  o.beforeJoin?.(socket); // listeners attached before the join can never miss the first announcement
  const welcome = nextEvent(socket, EVENTS.welcome);
  socket.emit(EVENTS.join, { protocolVersion: PROTOCOL_VERSION, backend: 'cpu', eligible: o.eligible ?? true, ...(o.hasNewData !== undefined ? { hasNewData: o.hasNewData } : {}) });
  await welcome;
  return { socket, participantId: cred.participantId, token: cred.token };
}

export function nextEvent<T = unknown>(socket: Socket, name: string): Promise<T> {
  return new Promise((resolve) => socket.once(name, resolve));
}

/** Sends an update and resolves with the coordinator's ack or typed rejection. */
export function sendUpdate(socket: Socket, bytes: Uint8Array): Promise<{ ack?: unknown; rejected?: UpdateRejectedMessage }> {
  return new Promise((resolve) => {
    const onAck = (ack: unknown) => done({ ack });
    const onReject = (rejected: UpdateRejectedMessage) => done({ rejected });
    const done = (r: { ack?: unknown; rejected?: UpdateRejectedMessage }) => {
      socket.off(EVENTS.updateAck, onAck);
      socket.off(EVENTS.updateRejected, onReject);
      resolve(r);
    };
    socket.on(EVENTS.updateAck, onAck);
    socket.on(EVENTS.updateRejected, onReject);
    socket.emit(EVENTS.update, bytes);
  });
}

/** Resolves when `check` holds, polling every `everyMs`; rejects with `what` after `timeoutMs` (a liveness bound, not a timing assertion). */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000, everyMs = 20): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * An honest participant without training: answers every round it is selected for with
 * a small valid update (`delta`, already within the clip bound) for the announced round
 * and version. Counts what it was told.
 */
export class HonestBot {
  acks = 0;
  rejections: UpdateRejectedMessage[] = [];
  roundsSelected = 0;
  private constructor(readonly socket: Socket, readonly participantId: string, readonly token: string) {}

  static async join(url: string, kind: ModelKind, encode: (round: number, version: number) => Uint8Array, o: { eligible?: boolean } = {}): Promise<HonestBot> {
    const counts = { acks: 0, roundsSelected: 0, rejections: [] as UpdateRejectedMessage[] };
    let bot: HonestBot | undefined;
    const { socket, participantId, token } = await joinAs(url, kind, {
      ...o,
      beforeJoin: (s) => {
        s.on(EVENTS.roundStart, (m: { round: number; version: number }) => {
          bot ? bot.roundsSelected++ : counts.roundsSelected++;
          s.emit(EVENTS.update, encode(m.round, m.version));
        });
        s.on(EVENTS.updateAck, () => (bot ? bot.acks++ : counts.acks++));
        s.on(EVENTS.updateRejected, (r: UpdateRejectedMessage) => (bot ? bot.rejections : counts.rejections).push(r));
      },
    });
    bot = Object.assign(new HonestBot(socket, participantId, token), counts);
    return bot;
  }

  close(): void {
    this.socket.close();
  }
}
