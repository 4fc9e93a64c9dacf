/**
 * The one error secure aggregation raises. `reason` says exactly which check refused
 * (a caller, a test or the wire layer switches on it); `code` maps it onto Flock's
 * FlockErrorCode so existing handlers (socket 'protocol:error', CLI exit) keep working.
 * A refusal changes nothing: the client or server that throws keeps its previous state.
 */
import { FlockError, type FlockErrorCode } from '../errors.ts';

export type SecAggRefusal =
  /** Parameters out of range (threshold, neighbours, ring bits, vector length, ids). */
  | 'bad-params'
  /** A message does not parse (zod) or has the wrong length / field. */
  | 'malformed'
  /** A step called out of order (e.g. unmask before maskedInput), or twice. */
  | 'wrong-phase'
  /** A message from / about / addressed to someone who is not in the round, not a neighbour, or not me. */
  | 'not-a-participant'
  /** A second message from the same participant in one phase. */
  | 'duplicate'
  /** A message for a phase that is already closed. */
  | 'late'
  /** An update coordinate outside [−clipBound, clipBound] or not finite: it could wrap the ring. */
  | 'out-of-range'
  /** The coordinator asked one client for both the self-mask share and the key share of one peer. */
  | 'both-shares-requested'
  /** Survivor and dropped sets overlap, or disagree with what this client saw. */
  | 'inconsistent-sets'
  /** Fewer than `threshold` neighbours remain: answering would not let anyone reconstruct, and refusing protects the secrets. */
  | 'below-threshold'
  /** An encrypted share failed authentication (tampered, forged, re-addressed or from another round). */
  | 'tampered-share'
  /** Server: too many participants dropped for the round to be unmasked; the round is abandoned, nothing is learned. */
  | 'too-many-dropped';

const CODE: Record<SecAggRefusal, FlockErrorCode> = {
  'bad-params': 'bad-config',
  malformed: 'malformed',
  'wrong-phase': 'protocol-mismatch',
  'not-a-participant': 'not-selected',
  duplicate: 'duplicate',
  late: 'late',
  'out-of-range': 'over-bound',
  'both-shares-requested': 'protocol-mismatch',
  'inconsistent-sets': 'protocol-mismatch',
  'below-threshold': 'protocol-mismatch',
  'tampered-share': 'malformed',
  'too-many-dropped': 'protocol-mismatch',
};

export class SecAggError extends FlockError {
  readonly reason: SecAggRefusal;
  constructor(reason: SecAggRefusal, message: string) {
    super(CODE[reason], `secure aggregation: ${message}`);
    this.name = 'SecAggError';
    this.reason = reason;
  }
}

export function isSecAggError(e: unknown, reason?: SecAggRefusal): e is SecAggError {
  return e instanceof SecAggError && (reason === undefined || e.reason === reason);
}
