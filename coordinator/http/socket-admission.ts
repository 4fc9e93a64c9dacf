import type { IncomingMessage } from 'node:http';
import type { Server } from 'socket.io';
import { clientAddress } from './client-address.ts';
import { forbiddenOriginMessage, type OriginPolicy } from './allowed-origins.ts';

/** Why a socket handshake was refused before any namespace saw it. */
export type AdmissionRefusal = 'forbidden-origin' | 'too-many-connections';

/**
 * Decides whether a socket.io handshake may proceed (engine.io's `allowRequest`): a
 * browser page from an origin not allowed is refused (a Node client sends no Origin
 * and is bound by its credential instead), and one address may hold at most
 * `maxPerAddress` connections (0: no cap).
 */
export class SocketAdmission {
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly origins: OriginPolicy,
    private readonly maxPerAddress: number,
    private readonly trustProxy: number,
    private readonly onRefused: (why: AdmissionRefusal) => void = () => {},
  ) {}

  readonly allowRequest = (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void): void => {
    const origin = req.headers.origin;
    if (!this.origins.allows(origin)) {
      this.onRefused('forbidden-origin');
      return callback(`forbidden-origin: ${forbiddenOriginMessage(String(origin))}`, false);
    }
    const address = clientAddress(req, this.trustProxy);
    if (this.maxPerAddress > 0 && (this.perAddress.get(address) ?? 0) >= this.maxPerAddress) {
      this.onRefused('too-many-connections');
      return callback(`rate-limited: this address already holds ${this.maxPerAddress} connections; close some or ask the operator to raise --max-connections-per-address`, false);
    }
    callback(null, true);
  };

  /** Counts the open connections of each address (call once, on the socket.io server). */
  track(io: Server): void {
    io.engine.on('connection', (conn: { request: IncomingMessage; once(event: 'close', fn: () => void): void }) => {
      const address = clientAddress(conn.request, this.trustProxy);
      this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
      conn.once('close', () => {
        const left = (this.perAddress.get(address) ?? 1) - 1;
        if (left <= 0) this.perAddress.delete(address);
        else this.perAddress.set(address, left);
      });
    });
  }
}
