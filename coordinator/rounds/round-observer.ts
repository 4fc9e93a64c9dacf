import type { RejectionCode, RoundOutcome } from '../../shared/protocol/messages.ts';

/**
 * What a round engine reports as it runs, for whoever watches the coordinator
 * (Prometheus metrics in coordinator/metrics/, tests). Every call is cheap and must
 * never throw: an observer cannot stop a round.
 */
export interface RoundObserver {
  /** A round closed: aggregated, quorum missed, or failed (an error was caught and logged). */
  roundClosed(model: string, outcome: RoundOutcome, seconds: number): void;
  /** An update passed every check and was folded into the round. */
  updateAccepted(model: string, bytes: number): void;
  /** An update (or a message claiming to be one) was refused with `code`. */
  updateRejected(model: string, code: RejectionCode, bytes: number): void;
}

/** An observer that records nothing. */
export const NO_ROUND_OBSERVER: RoundObserver = {
  roundClosed: () => {},
  updateAccepted: () => {},
  updateRejected: () => {},
};
