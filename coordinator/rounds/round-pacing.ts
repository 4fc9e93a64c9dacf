/**
 * When a model's next round may open: rounds are paced so that an open tab does not
 * upload for as long as it is open (issue 10, "training that respects the device").
 *
 * - At most one round per `roundIntervalMs`, counted from one round's opening to the
 *   next (and never sooner than `roundDelayMs` after the event that made one due, so
 *   late joiners can still be sampled).
 * - Enough eligible participants (`minClients`) are connected.
 * - Without differential privacy, some eligible participant has something new to learn
 *   from: interactions the current version has not seen from it, or a version it has
 *   not trained on (it says so in `hasNewData`, shared/protocol/messages.ts). Rounds
 *   then select among those participants only.
 * - Under differential privacy the data condition does not apply: whether a round opens
 *   must not depend on anyone's data, which the accountant does not cover. Rounds open
 *   on the interval and Poisson-sample among every eligible participant, as before.
 *
 * Pure: the engine feeds it what it knows and acts on the answer.
 */

/** Why a due round did not open (logged by the engine when it changes). */
export type RoundHold = 'too-few-eligible' | 'nothing-new';

/** One connected participant as pacing sees it. */
export interface PacingCandidate {
  readonly participantId: string;
  readonly eligible: boolean;
  readonly hasNewData: boolean;
}

export interface PacingSettings {
  readonly roundIntervalMs: number;
  readonly roundDelayMs: number;
  readonly minClients: number;
}

/**
 * The earliest time (ms since epoch) the next round may open, asked at `now`:
 * `roundDelayMs` from now, and `roundIntervalMs` after the last opening.
 */
export function nextRoundAt(now: number, lastOpenedAt: number | null, s: Pick<PacingSettings, 'roundIntervalMs' | 'roundDelayMs'>): number {
  const afterDelay = now + s.roundDelayMs;
  return lastOpenedAt === null ? afterDelay : Math.max(afterDelay, lastOpenedAt + s.roundIntervalMs);
}

export type PacingDecision =
  /** Open now; `pool` are the participants (sorted ids) the round draws from. */
  | { readonly open: true; readonly pool: string[]; readonly eligible: number }
  | { readonly open: false; readonly hold: RoundHold; readonly eligible: number; readonly withNewData: number };

/**
 * Whether a round that is due by the clock opens now, and among whom. `dataGated`
 * is false under differential privacy (see the file comment).
 */
export function decideRound(candidates: Iterable<PacingCandidate>, minClients: number, dataGated: boolean): PacingDecision {
  const eligible: string[] = [];
  const withNew: string[] = [];
  for (const c of candidates) {
    if (!c.eligible) continue;
    eligible.push(c.participantId);
    if (c.hasNewData) withNew.push(c.participantId);
  }
  eligible.sort();
  withNew.sort();
  if (eligible.length < minClients) return { open: false, hold: 'too-few-eligible', eligible: eligible.length, withNewData: withNew.length };
  if (!dataGated) return { open: true, pool: eligible, eligible: eligible.length };
  if (withNew.length === 0) return { open: false, hold: 'nothing-new', eligible: eligible.length, withNewData: 0 };
  return { open: true, pool: withNew, eligible: eligible.length };
}
