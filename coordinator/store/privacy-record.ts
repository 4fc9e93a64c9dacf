/**
 * versions/v000123.privacy.json: the privacy a model had spent once version 123 was
 * released, written with the version under differential privacy (DP-FedAvg, issue 9).
 *
 * Spent privacy is a property of what was PUBLISHED, so it lives with each version, in
 * the same atomic save as the weights: the file is written before the manifest names
 * the version, its sha256 is in the version's .sha256 file (so a manifest rebuilt from
 * the files still verifies it) and in the manifest entry, with a short summary (ε,
 * rounds) a person can read there. The full accountant state is only in this file: the
 * manifest is rewritten at every save and stays small.
 *
 * A coordinator with DP resumes its budget from the newest version's record (and from
 * the records of newer versions that were moved aside as damaged: they were published,
 * so their rounds stay spent). It never starts over at ε = 0 in a folder that has
 * trained versions without a record; see coordinator/rounds/round-privacy.ts.
 */
import { z } from 'zod';
import { FlockError } from '../../shared/errors.ts';

export const PRIVACY_RECORD_FORMAT = 1;

const positive = z.number().finite().positive();

/** shared/privacy/privacy-budget.ts PrivacyLedger, as stored. */
export const PrivacyLedgerSchema = z.object({
  noiseMultiplier: positive,
  delta: z.number().positive().lt(1),
  epsilon: z.number().finite().nonnegative(),
  rounds: z.number().int().nonnegative(),
  accountant: z.object({
    orders: z.array(z.number().finite()),
    rdp: z.array(z.number()),
    steps: z.number().int().nonnegative(),
  }),
});

export const PrivacyRecordSchema = z.object({
  format: z.literal(PRIVACY_RECORD_FORMAT),
  mechanism: z.literal('dp-fedavg'),
  modelKind: z.string().min(1),
  version: z.number().int().nonnegative(),
  round: z.number().int().nonnegative(),
  /** Everything spent up to and including this version's round. */
  ledger: PrivacyLedgerSchema,
  /** The clip bound the NEXT round uses (adaptive clipping moves it). */
  clipNorm: positive,
  adaptiveClipping: z.boolean(),
  /** The plan this version was released under (a restart may bring another: logged). */
  plan: z.object({
    noiseMultiplier: positive,
    delta: z.number().positive().lt(1),
    samplingRate: z.number().positive().max(1),
    population: z.number().int().positive(),
    expectedCohort: positive,
    rounds: z.number().int().positive(),
    epsilonBudget: positive,
    conversion: z.string(),
  }),
}).strict();
export type PrivacyRecord = z.infer<typeof PrivacyRecordSchema>;

/** What a version's privacy file holds, as far as it can be trusted. */
export type PrivacyRead =
  | { readonly status: 'none' }
  | { readonly status: 'ok'; readonly record: PrivacyRecord }
  | { readonly status: 'damaged'; readonly reason: string };

export function encodePrivacyRecord(r: PrivacyRecord): string {
  const parsed = PrivacyRecordSchema.safeParse(r);
  if (!parsed.success) throw new FlockError('malformed', `privacy record of version ${r.version}: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  return JSON.stringify(r, null, 2) + '\n';
}

/** Parses a privacy file's text; the reason when it is not a record of `version` of `modelKind`. */
export function parsePrivacyRecord(text: string, version: number, modelKind?: string): { ok: true; record: PrivacyRecord } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `is not valid JSON (${(e as Error).message})` };
  }
  const parsed = PrivacyRecordSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: `is not a privacy record (${issue?.path.join('.') || 'top'}: ${issue?.message})` };
  }
  if (parsed.data.version !== version) return { ok: false, reason: `holds version ${parsed.data.version}, not ${version}` };
  if (modelKind !== undefined && parsed.data.modelKind !== modelKind) return { ok: false, reason: `is of model '${parsed.data.modelKind}', not '${modelKind}'` };
  return { ok: true, record: parsed.data };
}
