/**
 * How a secure-aggregation message crosses socket.io: its JSON with every byte field
 * replaced by a reference {"$b": [offset, length]} into ONE binary attachment holding them
 * all, in order. socket.io's parser refuses packets with more than 10 binary attachments
 * (its `maxAttachments`, a denial-of-service guard we keep), and a neighbourhood's keys,
 * shares or revealed shares are 2k of them; packed, every secagg event is one JSON part
 * and one binary frame.
 *
 * unpackBinaryFields is strict: the references must tile the attachment exactly, in
 * order (no byte unaccounted for, none shared), the nesting is bounded, and anything else
 * is FlockError('malformed'). The result is then validated with the message's own zod
 * schema (secagg-events.ts), as if the bytes had come as separate attachments.
 */
import { FlockError } from '../errors.ts';

export interface PackedSecAggMessage {
  readonly json: unknown;
  readonly bytes: Uint8Array;
}

const MAX_DEPTH = 8;
const REF = '$b';

/** The message with its Uint8Array fields moved into one attachment. */
export function packBinaryFields(message: object): PackedSecAggMessage {
  const parts: Uint8Array[] = [];
  let offset = 0;
  const walk = (v: unknown): unknown => {
    if (v instanceof Uint8Array) {
      parts.push(v);
      const ref = { [REF]: [offset, v.length] };
      offset += v.length;
      return ref;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  const json = walk(message);
  const bytes = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { json, bytes };
}

/** The message with its byte fields restored (views into the attachment); FlockError('malformed') on anything but a well-formed packing. */
export function unpackBinaryFields(raw: unknown): unknown {
  const bad = (why: string): never => {
    throw new FlockError('malformed', `secure-aggregation message: ${why}`);
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return bad('expected { json, bytes }');
  const keys = Object.keys(raw);
  if (keys.length !== 2 || !keys.includes('json') || !keys.includes('bytes')) return bad('expected exactly { json, bytes }');
  const { json, bytes: b } = raw as { json: unknown; bytes: unknown };
  const bytes = b instanceof Uint8Array ? b : b instanceof ArrayBuffer ? new Uint8Array(b) : bad('bytes must be one binary attachment');
  let cursor = 0;
  const walk = (v: unknown, depth: number): unknown => {
    if (depth > MAX_DEPTH) return bad(`nested deeper than ${MAX_DEPTH}`);
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    if (v === null || typeof v !== 'object') return v;
    if (v instanceof Uint8Array || v instanceof ArrayBuffer) return bad('byte fields travel in the attachment, by reference');
    const entries = Object.entries(v);
    if (entries.some(([k]) => k === REF)) {
      const ref = (v as Record<string, unknown>)[REF];
      if (entries.length !== 1 || !Array.isArray(ref) || ref.length !== 2 || !ref.every((n) => Number.isInteger(n) && n >= 0)) return bad(`a reference must be {"${REF}": [offset, length]}`);
      const [off, len] = ref as [number, number];
      if (off !== cursor || off + len > bytes.length) return bad('byte references must tile the attachment in order');
      cursor += len;
      return bytes.subarray(off, off + len);
    }
    return Object.fromEntries(entries.map(([k, x]) => [k, walk(x, depth + 1)]));
  };
  const out = walk(json, 0);
  if (cursor !== bytes.length) bad(`${bytes.length - cursor} bytes of the attachment are not referenced`);
  return out;
}
