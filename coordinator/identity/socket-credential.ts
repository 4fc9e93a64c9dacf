import type { Namespace } from 'socket.io';
import { FlockError } from '../../shared/errors.ts';
import { HandshakeAuthSchema } from '../../shared/protocol/messages.ts';
import type { CredentialIssuer } from './credential-issuer.ts';

/** The error a refused handshake reaches the client with: `connect_error` with `err.data = { code, message }`. */
export interface HandshakeError extends Error {
  data: { code: string; message: string };
}

export function handshakeError(code: string, message: string): HandshakeError {
  const err = new Error(message) as HandshakeError;
  err.data = { code, message };
  return err;
}

/**
 * Admits a socket to a model namespace only with a valid credential in its handshake
 * (`auth: { token }`), and records who it is in `socket.data.participantId`, the only
 * place the round engine reads a participant's identity from. A refused client gets a
 * `connect_error` whose `data.code` is 'unauthorized': it should request a new credential.
 */
export function requireCredential(nsp: Namespace, issuer: CredentialIssuer, onRefused: (code: string) => void = () => {}): void {
  nsp.use((socket, next) => {
    const auth = HandshakeAuthSchema.safeParse(socket.handshake.auth);
    if (!auth.success) {
      onRefused('unauthorized');
      const present = socket.handshake.auth && typeof socket.handshake.auth === 'object' && 'token' in socket.handshake.auth;
      next(handshakeError('unauthorized', present
        ? 'the credential in the handshake is not a signed token: request a new one with POST /api/credentials'
        : 'no credential: request one with POST /api/credentials and connect with auth: { token }'));
      return;
    }
    issuer.verify(auth.data.token).then(
      ({ participantId }) => {
        socket.data.participantId = participantId;
        next();
      },
      (err: unknown) => {
        onRefused('unauthorized');
        const message = err instanceof FlockError ? err.message : 'the credential could not be checked: try again';
        next(handshakeError('unauthorized', message));
      },
    );
  });
}
