import { FlockError } from '../errors.ts';

/**
 * The upload budget: how many bytes of updates one device may send per rolling hour,
 * all of its models together. The person sees and changes it (Participant.setUploadBudget);
 * a participant declines a round — tells the coordinator it is not eligible — when the
 * next upload would take the last hour's total over the budget (issue 10).
 */

/** The rolling window the budget is counted over. */
export const UPLOAD_WINDOW_MS = 3_600_000;

/**
 * 1 MB per hour by default. Measured (npm run bench:idle-upload, default models on the
 * built-in catalog), a device's updates of one round of both models are about 57 KB
 * (row-sparse, ≈ 28 KB an update); the dense bound is about 270 KB (120 KB embedding
 * model, 150 KB sequence model). So the default lets a device take part in about 17
 * rounds of both models an hour at measured sizes (at least 3 at the dense bound), so
 * a new like still reaches the shared model within minutes, while a tab left open all
 * day uploads at most 24 MB (an idle tab measured ~67 MB an hour before pacing).
 */
export const DEFAULT_UPLOAD_BUDGET_BYTES_PER_HOUR = 1_000_000;

/** The largest budget accepted (1 GB an hour): beyond it a typo, not a choice. */
export const MAX_UPLOAD_BUDGET_BYTES_PER_HOUR = 1_000_000_000;

/** One update that left the device, as the rolling-hour log keeps it. */
export interface UploadRecord {
  readonly modelKind: string;
  readonly bytes: number;
  /** ms since epoch */
  readonly at: number;
}

/** A budget as given by a person: a whole number of bytes per hour in [0, 1 GB]; else a 'bad-config' FlockError. */
export function checkUploadBudget(bytesPerHour: number): number {
  if (!Number.isInteger(bytesPerHour) || bytesPerHour < 0 || bytesPerHour > MAX_UPLOAD_BUDGET_BYTES_PER_HOUR) {
    throw new FlockError('bad-config', `the upload budget must be a whole number of bytes per hour between 0 and ${MAX_UPLOAD_BUDGET_BYTES_PER_HOUR}, got ${bytesPerHour}`);
  }
  return bytesPerHour;
}

/** Bytes uploaded within the rolling hour that ends at `now`. */
export function uploadedInWindow(log: readonly UploadRecord[], now: number): number {
  let total = 0;
  for (const u of log) if (u.at > now - UPLOAD_WINDOW_MS && u.at <= now) total += u.bytes;
  return total;
}

/** Whether an upload of `nextBytes` at `now` keeps the rolling hour within `bytesPerHour`. */
export function budgetAllows(bytesPerHour: number, log: readonly UploadRecord[], nextBytes: number, now: number): boolean {
  return uploadedInWindow(log, now) + nextBytes <= bytesPerHour;
}

/**
 * The earliest time ≥ `now` at which an upload of `nextBytes` fits, as older uploads
 * leave the window; null when it never will (it is larger than the budget itself).
 */
export function budgetFreesAt(bytesPerHour: number, log: readonly UploadRecord[], nextBytes: number, now: number): number | null {
  if (nextBytes > bytesPerHour) return null;
  const inWindow = log.filter((u) => u.at > now - UPLOAD_WINDOW_MS && u.at <= now).sort((a, b) => a.at - b.at);
  let used = inWindow.reduce((n, u) => n + u.bytes, 0);
  if (used + nextBytes <= bytesPerHour) return now;
  for (const u of inWindow) {
    used -= u.bytes;
    if (used + nextBytes <= bytesPerHour) return u.at + UPLOAD_WINDOW_MS + 1;
  }
  return now;
}
