import type { Namespace, Socket } from 'socket.io';
import { EVENTS, PROTOCOL_VERSION, type ProtocolErrorMessage } from '../../shared/protocol/messages.ts';
import { TokenBucket } from './token-bucket.ts';

/** Messages per second a connection may send, and how many it may send at once. */
export interface MessageRate {
  readonly perSecond: number;
  readonly burst: number;
}

/** Why a message was refused (and its connection closed). */
export interface GuardRefusal {
  readonly code: 'malformed' | 'too-large' | 'rate-limited';
  readonly event: string;
  readonly bytes: number;
  readonly message: string;
}

/**
 * One token bucket per underlying connection, shared by the namespaces multiplexed on
 * it: a client cannot multiply its rate by joining several models.
 */
export class ConnectionRateLimiter {
  private readonly buckets = new WeakMap<object, TokenBucket>();

  constructor(readonly rate: MessageRate, private readonly now: () => number = Date.now) {
    new TokenBucket(rate.perSecond, rate.burst, 0); // validates the rate now, not at the first message
  }

  take(connection: object): boolean {
    let bucket = this.buckets.get(connection);
    if (!bucket) this.buckets.set(connection, (bucket = new TokenBucket(this.rate.perSecond, this.rate.burst, this.now())));
    return bucket.take(this.now());
  }
}

/** Bytes of a message's arguments: binary ones by length, the rest as the JSON they arrived as. */
export function payloadBytes(args: readonly unknown[]): number {
  let n = 0;
  const json: unknown[] = [];
  for (const a of args) {
    if (typeof a === 'function') continue; // an acknowledgement callback, not data
    if (a instanceof ArrayBuffer) n += a.byteLength;
    else if (ArrayBuffer.isView(a)) n += a.byteLength;
    else json.push(a);
  }
  if (json.length > 0) n += Buffer.byteLength(JSON.stringify(json) ?? '', 'utf8');
  return n;
}

/**
 * Per-message checks on every socket of a namespace, before any handler runs: the
 * connection's message rate, the event is one a participant may send (`maxBytes` names
 * them all), and its payload fits that event's limit. A message that fails is dropped,
 * the client is sent `protocol:error { code, message }` and its connection is closed.
 * (The transport has already refused anything over the socket.io buffer limit.)
 */
export function guardSocket(
  nsp: Namespace,
  maxBytes: Readonly<Record<string, number>>,
  limiter: ConnectionRateLimiter,
  onRefused: (r: GuardRefusal, socket: Socket) => void = () => {},
): void {
  const allowed = Object.keys(maxBytes);
  nsp.use((socket, next) => {
    socket.use((packet, nextPacket) => {
      const [event, ...args] = packet as unknown[];
      const name = typeof event === 'string' ? event : String(event);
      const refuse = (code: GuardRefusal['code'], bytes: number, message: string) => {
        onRefused({ code, event: name, bytes, message }, socket);
        const body: ProtocolErrorMessage = { code, message };
        socket.emit(EVENTS.protocolError, body);
        socket.disconnect(true);
      };
      if (!limiter.take(socket.conn)) {
        return refuse('rate-limited', 0, `more than ${limiter.rate.perSecond} messages per second (burst ${limiter.rate.burst}) on one connection: the connection was closed; reconnect and send less often`);
      }
      const limit = typeof event === 'string' && Object.hasOwn(maxBytes, event) ? maxBytes[event] : undefined;
      if (limit === undefined) {
        return refuse('malformed', 0, `'${name.slice(0, 64)}' is not a message of protocol ${PROTOCOL_VERSION} on ${nsp.name} (a participant sends ${allowed.join(', ')}): reload the page`);
      }
      const bytes = payloadBytes(args);
      if (bytes > limit) {
        return refuse('too-large', bytes, `${name} of ${bytes} bytes is over this coordinator's limit of ${limit} bytes on ${nsp.name}: the connection was closed`);
      }
      nextPacket();
    });
    next();
  });
}
