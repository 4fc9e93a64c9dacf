/**
 * What secure aggregation (shared/secagg/: Bonawitz et al. 2017, "Practical Secure
 * Aggregation for Privacy-Preserving Machine Learning", with the SecAgg+ graph of Bell et
 * al. 2020) leaves of the aggregation pipeline, for code that holds AggregationSettings
 * (the in-process simulation; the coordinator's ServeConfig check,
 * coordinator/rounds/secure-round-settings.ts, states the same rules for `flock serve`).
 *
 * The server learns only the SUM of the round's clipped updates, so:
 * - combine must be 'mean' (trimmed mean, median and centered clipping need each update);
 * - weighting must be 'uniform' (every masked input weighs 1; nobody can see what to weigh);
 * - row normalisation must be off (per-row client counts would tell which rows each
 *   person touched, the leak secure aggregation closes);
 * - adaptive DP clipping must be off (each client's "norm below C" bit would travel in the clear).
 * Clipping happens on the client before the update is encoded in the ring.
 */
import { FlockError } from '../errors.ts';
import { formatCombine, formatWeighting, type AggregationSettings } from './aggregation-settings.ts';

/** The parts of the aggregation settings secure aggregation constrains (the simulation's AggregationSettings, the coordinator's ServeConfig). */
export type SecureAggregationRelevant = Pick<AggregationSettings, 'combine' | 'weighting' | 'rowNormalize'>;

/** Refuses (FlockError 'bad-config', naming the flag) settings secure aggregation cannot run with. */
export function checkSecureAggregationSettings(s: SecureAggregationRelevant, o: { adaptiveClip?: boolean } = {}): void {
  if (s.combine.kind !== 'mean') {
    throw new FlockError('bad-config', `--combine ${formatCombine(s.combine)} cannot be used with --secure-aggregation: the server learns only the sum of a round's updates, and a robust rule needs each update on its own (use --combine mean)`);
  }
  if (s.weighting.kind !== 'uniform') {
    throw new FlockError('bad-config', `--weighting ${formatWeighting(s.weighting)} cannot be used with --secure-aggregation: every masked input weighs exactly 1 (use --weighting uniform)`);
  }
  if (s.rowNormalize) {
    throw new FlockError('bad-config', 'secure aggregation needs row normalisation off (--no-row-normalize): per-row client counts would reveal which items each person touched');
  }
  if (o.adaptiveClip) {
    throw new FlockError('bad-config', '--adaptive-clip cannot be used with --secure-aggregation: each participant\'s "norm below the bound" bit would reach the server in the clear; use a fixed --clip');
  }
}

/**
 * The settings secure aggregation needs, from what the user asked: a combine rule or
 * weighting left at its default is switched to mean / uniform and row normalisation turned
 * off (with notes for the log); one given explicitly is kept and then refused by the check.
 */
export function secureAggregationSettings<S extends SecureAggregationRelevant>(s: S, explicit: { combine?: boolean; weighting?: boolean } = {}): { settings: S; notes: string[] } {
  const notes: string[] = [];
  let { combine, weighting } = s;
  if (combine.kind !== 'mean' && !explicit.combine) {
    notes.push(`combine 'mean' instead of the default '${formatCombine(combine)}' (the server sees only the sum)`);
    combine = { kind: 'mean' };
  }
  if (weighting.kind !== 'uniform' && !explicit.weighting) {
    notes.push(`weighting 'uniform' instead of '${formatWeighting(weighting)}'`);
    weighting = { kind: 'uniform' };
  }
  if (s.rowNormalize) notes.push('row normalisation off (per-row client counts would reveal which items each person touched)');
  const settings: S = { ...s, combine, weighting, rowNormalize: false };
  checkSecureAggregationSettings(settings);
  return { settings, notes };
}
