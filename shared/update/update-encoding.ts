/**
 * How an update's values travel, negotiated per round (issue 11, "Compressed updates"):
 *   'f32'  float32, exact (the codec's original dtype);
 *   'f16'  IEEE binary16, round to nearest even (float16.ts);
 *   'int8' int8 with one float32 scale per row, stochastic rounding (quantize-int8.ts).
 * Orthogonal to the row layout (dense or row-sparse, tensor-codec.ts's RowEncoding).
 *
 * The coordinator's round announcement lists the encodings it accepts this round
 * (RoundConfig.updateEncodings; absent = ['f32'], what every participant could always
 * send); a participant sends the smallest accepted one it supports; the coordinator
 * refuses ('malformed', nothing changes) an update with a tensor in any other. The list
 * is per round so a round with secure aggregation can offer its own ring encoding instead.
 */
import { FlockError } from '../errors.ts';

/** Smallest first: the order a participant prefers them in. */
export const UPDATE_ENCODINGS = ['int8', 'f16', 'f32'] as const;
export type UpdateEncoding = (typeof UPDATE_ENCODINGS)[number];

/** What a round accepts when its announcement does not say: plain float32. */
export const DEFAULT_UPDATE_ENCODINGS: readonly UpdateEncoding[] = ['f32'];

export function isUpdateEncoding(s: string): s is UpdateEncoding {
  return (UPDATE_ENCODINGS as readonly string[]).includes(s);
}

/** Parses a comma-separated list such as 'f32,f16,int8' (flags); FlockError('bad-config') on an unknown or repeated name or an empty list. */
export function parseUpdateEncodings(text: string): UpdateEncoding[] {
  const names = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new FlockError('bad-config', `update encodings: give at least one of ${UPDATE_ENCODINGS.join(', ')}`);
  const out: UpdateEncoding[] = [];
  for (const n of names) {
    if (!isUpdateEncoding(n)) throw new FlockError('bad-config', `unknown update encoding '${n}' (known: ${UPDATE_ENCODINGS.join(', ')})`);
    if (out.includes(n)) throw new FlockError('bad-config', `update encoding '${n}' is listed twice`);
    out.push(n);
  }
  return out;
}

/**
 * The encoding a participant sends: the smallest of `offered` (absent: ['f32']) that it
 * `supports`; undefined when they share none (it cannot take part in this round).
 */
export function chooseUpdateEncoding(offered: readonly UpdateEncoding[] | undefined, supports: readonly UpdateEncoding[]): UpdateEncoding | undefined {
  const accepted = offered ?? DEFAULT_UPDATE_ENCODINGS;
  return UPDATE_ENCODINGS.find((e) => accepted.includes(e) && supports.includes(e));
}

/**
 * The coordinator's check on a decoded update: every tensor travelled in an encoding
 * this round offered (a tensor without `packed` travelled as f32). FlockError('malformed').
 */
export function checkUpdateEncodings(tensors: readonly { readonly name: string; readonly packed?: { readonly encoding: UpdateEncoding } }[], accepted: readonly UpdateEncoding[]): void {
  for (const t of tensors) {
    const e = t.packed?.encoding ?? 'f32';
    if (!accepted.includes(e)) throw new FlockError('malformed', `tensor ${JSON.stringify(t.name)} was sent as ${e}; this round accepts ${accepted.join(', ')}`);
  }
}
