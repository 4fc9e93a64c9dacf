/**
 * Every error Flock raises on bad input carries a machine-readable code so a caller
 * (the UI, the CLI, a socket peer) can react to it without parsing messages.
 */
export type FlockErrorCode =
  | 'malformed'
  | 'unsupported-format'
  | 'wrong-round'
  | 'late'
  | 'duplicate'
  | 'not-selected'
  | 'wrong-version'
  | 'wrong-shape'
  | 'non-finite'
  | 'over-bound'
  | 'too-large'
  | 'bad-config'
  | 'bad-data'
  | 'not-found'
  | 'protocol-mismatch'
  | 'backend-unavailable'
  | 'unauthorized'
  | 'forbidden-origin'
  | 'rate-limited'
  | 'replaced'
  | 'store-damaged'
  | 'robust-rule';

export class FlockError extends Error {
  readonly code: FlockErrorCode;
  constructor(code: FlockErrorCode, message: string) {
    super(message);
    this.name = 'FlockError';
    this.code = code;
  }
}
