/**
 * `flock serve --secure-aggregation [--secagg-dropout f]`: what secure aggregation
 * (Bonawitz et al. 2017, "Practical Secure Aggregation for Privacy-Preserving Machine
 * Learning"; the SecAgg+ graph of Bell et al. 2020) needs from the rest of the
 * aggregation pipeline, and the refusals when it cannot have it.
 *
 * The coordinator receives only masked ring vectors and, once a round is unmasked, their
 * SUM. So every stage that needs one participant's update on the server is impossible:
 * - combine: only 'mean' (the sum divided by the number of survivors). Trimmed mean,
 *   median and centered clipping look at individual updates: refused.
 * - weighting: only 'uniform' (each masked input weighs 1; the client cannot be trusted
 *   to pre-weight, and the server cannot see what it would weigh).
 * - row normalisation: off (per-row client counts would tell which rows each person
 *   touched, the very leak secure aggregation closes).
 * - clipping happens on the client before the update is encoded in the ring; the ring's
 *   range is fixed by the clip bound, so an out-of-range input cannot be seen, only
 *   bounded (THREAT-MODEL.md: a malicious client can still send any vector in range).
 * - adaptive clipping under DP: its per-client "norm below C" bit would travel in the
 *   clear; refused until it is summed in the ring too.
 * - row-sparse updates: impossible, the masked vector is dense by construction; f16/int8
 *   update encodings (--update-encodings): refused, the ring encoding replaces them.
 *
 * A combine rule or weighting the user did not ask for is switched (with a note for the
 * log); one asked for explicitly is refused with FlockError('bad-config') naming the flag,
 * as applyDp does: silently overriding a choice is worse than stopping.
 */
import { checkSecureAggregationSettings, secureAggregationSettings } from '../../shared/aggregate/secure-aggregation-settings.ts';
import { FlockError } from '../../shared/errors.ts';
import type { SecureAggregationSettings, ServeConfig } from '../serve-config.ts';

/**
 * Plan for a third of a round's participants vanishing mid-round: it sizes the SecAgg+
 * neighbourhoods (shared/secagg/secagg-params.ts chooseNeighbours); each neighbourhood
 * still needs a majority (t = ⌊k/2⌋ + 1) of its members to answer the unmasking.
 */
export const DEFAULT_SECAGG_DROPOUT = 1 / 3;

/** `--secure-aggregation` on `config`, with the aggregation it needs; notes say what was switched. */
export function applySecureAggregation(
  config: ServeConfig,
  settings: SecureAggregationSettings,
  explicit: { combine?: boolean; weighting?: boolean } = {},
): { config: ServeConfig; notes: string[] } {
  const { settings: aggregation, notes } = secureAggregationSettings(config, explicit);
  const out: ServeConfig = { ...config, secureAggregation: settings, combine: aggregation.combine, weighting: aggregation.weighting, rowNormalize: aggregation.rowNormalize };
  checkSecureAggregation(out);
  return { config: out, notes };
}

/**
 * Refuses a configuration secure aggregation cannot run with (FlockError 'bad-config'),
 * before anything starts; nothing to do without `config.secureAggregation`.
 */
export function checkSecureAggregation(config: ServeConfig): void {
  const sa = config.secureAggregation;
  if (!sa) return;
  if (!(Number.isFinite(sa.dropoutFraction) && sa.dropoutFraction >= 0 && sa.dropoutFraction < 0.5)) {
    throw new FlockError('bad-config', `--secagg-dropout must be in [0, 0.5): the fraction of a round's participants expected to vanish mid-round (each neighbourhood's threshold is a majority), got ${sa.dropoutFraction}`);
  }
  // The pipeline's rules (combine, weighting, row normalisation, adaptive clipping) are the simulation's, stated once.
  checkSecureAggregationSettings(config, { adaptiveClip: config.dp?.adaptiveClip !== undefined });
  const encodings = config.round.updateEncodings ?? ['f32'];
  if (encodings.some((e) => e !== 'f32')) {
    throw new FlockError('bad-config', `--update-encodings ${encodings.join(',')} cannot be used with --secure-aggregation: a masked input is the update encoded in the 32-bit ring (fixed point over [−C, C]), which is its compression; leave --update-encodings out`);
  }
  if (config.minClients < 2) {
    throw new FlockError('bad-config', `secure aggregation needs --min-clients of at least 2 (got ${config.minClients}): the sum of one update is that update`);
  }
}
