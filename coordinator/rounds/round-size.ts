import type { ServeConfig } from '../serve-config.ts';

export interface RoundSize {
  /** Updates that close the round at once. */
  readonly target: number;
  /** Participants selected: the target plus over-selection, capped by those eligible. */
  readonly selected: number;
  /** Updates the round needs to aggregate at all (its quorum), at least 1. */
  readonly needed: number;
}

/**
 * How big a round is among `eligible` participants: the target is
 * max(minPerRound, ceil(clientsPerRound × eligible)); over-selection adds
 * ceil(overselect × target) more so that a few silent or departing participants
 * never hold a round up (Bonawitz et al., "Towards Federated Learning at Scale:
 * System Design", MLSys 2019, §2: select more than needed, close at the target).
 */
export function roundSize(eligible: number, c: Pick<ServeConfig, 'clientsPerRound' | 'minPerRound' | 'overselect' | 'quorum'>): RoundSize {
  const target = Math.max(1, Math.min(eligible, Math.max(c.minPerRound, Math.ceil(c.clientsPerRound * eligible))));
  const selected = Math.min(eligible, target + Math.ceil(c.overselect * target));
  const needed = Math.max(1, Math.ceil(c.quorum * target));
  return { target, selected, needed };
}
