/**
 * Second, independent layer of the privacy check (the allow-list in
 * sent-traffic-allow-list.ts is the guarantee): searches what a page sent for the ids
 * of the items its person liked, in the encodings a leak would most likely use:
 *
 * - decimal numbers in any order with any non-alphanumeric separators: "3,9,6",
 *   `["3","9","6"]`, `{"3":5,"9":4,"6":5}`, "3 | 9 | 6";
 * - those texts base64- (standard or URL-safe, at any of 4 alignments) or hex-encoded;
 * - binary: consecutive little-endian int32, uint16, float32, float64, big-endian
 *   int32, or bytes (uint8, only runs of 4+), in any order; bytes that are mostly
 *   printable are read as text instead (their bytes are character codes).
 *
 * A finding is a run holding at least `minRun` (default 3, at most the number of liked
 * items) DISTINCT liked ids: a single small number is everywhere in honest traffic.
 * Searched: URLs, page-settable header values, request bodies, text frames, and binary
 * frames except those that decode as a ModelUpdate (shared/update/tensor-codec.ts):
 * an update carries the touched items' rows by design, see the allow-list's comment.
 * It misses whatever it was not told about (another base, an offset, arithmetic on the
 * ids, one id per message): that is why the allow-list comes first.
 */
import { decodeUpdate } from '../../shared/update/tensor-codec.ts';
import { decodeUrl, type TrafficRecord } from './traffic-capture.ts';

export interface LikedIdFinding {
  readonly where: string;
  /** How they were encoded, e.g. 'decimal text', 'base64 → float32 LE'. */
  readonly encoding: string;
  /** The distinct liked ids found in one run, in the order found. */
  readonly ids: readonly number[];
}

/** Headers whose value the page cannot set: no need to search them (and a user agent is full of numbers). */
const BROWSER_SET = /^(?:sec-.*|user-agent|host|connection|accept-encoding|content-length)$/;

const NUMBER = /(?<![A-Za-z0-9_.])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![A-Za-z0-9_])/g;
const SEPARATOR = /^[^A-Za-z0-9]{1,16}$/;
const BASE64 = /[A-Za-z0-9+/_-]{8,}={0,2}/g;
const HEX = /(?:[0-9a-fA-F]{2}){6,}/g;

/** Runs of decimal numbers (any non-alphanumeric separators) holding ≥ minRun distinct liked ids. */
export function likedIdsInText(text: string, liked: ReadonlySet<number>, minRun: number): number[][] {
  const runs: number[][] = [];
  let run: number[] = [];
  let lastEnd = -1;
  const flush = () => {
    const distinct = [...new Set(run)];
    if (distinct.length >= minRun) runs.push(distinct);
    run = [];
  };
  for (const m of text.matchAll(NUMBER)) {
    if (lastEnd >= 0 && !SEPARATOR.test(text.slice(lastEnd, m.index))) flush();
    lastEnd = m.index! + m[0].length;
    const n = Number(m[0]);
    if (Number.isInteger(n) && liked.has(n)) run.push(n);
  }
  flush();
  return runs;
}

const VIEWS: { name: string; width: number; read: (d: DataView, o: number) => number; minRun?: number }[] = [
  { name: 'int32 LE', width: 4, read: (d, o) => d.getInt32(o, true) },
  { name: 'int32 BE', width: 4, read: (d, o) => d.getInt32(o, false) },
  { name: 'uint16 LE', width: 2, read: (d, o) => d.getUint16(o, true) },
  { name: 'float32 LE', width: 4, read: (d, o) => d.getFloat32(o, true) },
  { name: 'float64 LE', width: 8, read: (d, o) => d.getFloat64(o, true) },
  { name: 'uint8', width: 1, read: (d, o) => d.getUint8(o), minRun: 4 },
];

/** Runs of consecutive binary values (each a liked id) holding ≥ minRun distinct ids, per encoding. */
export function likedIdsInBinary(bytes: Uint8Array, liked: ReadonlySet<number>, minRun: number): { encoding: string; ids: number[] }[] {
  const out: { encoding: string; ids: number[] }[] = [];
  const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const view of VIEWS) {
    const need = Math.max(minRun, view.minRun ?? 0);
    for (let start = 0; start < view.width; start++) {
      let run: number[] = [];
      const flush = () => {
        const distinct = [...new Set(run)];
        if (distinct.length >= need) out.push({ encoding: view.name, ids: distinct });
        run = [];
      };
      for (let o = start; o + view.width <= bytes.length; o += view.width) {
        const x = view.read(d, o);
        if (liked.has(x)) run.push(x);
        else flush();
      }
      flush();
    }
  }
  return out;
}

function mostlyPrintable(b: Uint8Array): boolean {
  if (b.length === 0) return false;
  let ok = 0;
  for (const c of b) if ((c >= 32 && c < 127) || c === 9 || c === 10 || c === 13) ok++;
  return ok / b.length >= 0.9;
}

/** Everything `text` may hide: its decimal runs, and the text and binary runs of its base64 / hex substrings. */
function searchText(text: string, liked: ReadonlySet<number>, minRun: number): { encoding: string; ids: number[] }[] {
  const out: { encoding: string; ids: number[] }[] = likedIdsInText(text, liked, minRun).map((ids) => ({ encoding: 'decimal text', ids }));
  const decoded = (label: string, bytes: Uint8Array) => {
    // Decoded text is read as text: its bytes are character codes, not numbers.
    if (mostlyPrintable(bytes)) {
      for (const ids of likedIdsInText(Buffer.from(bytes).toString('latin1'), liked, minRun)) out.push({ encoding: `${label} → decimal text`, ids });
    } else {
      for (const f of likedIdsInBinary(bytes, liked, minRun)) out.push({ encoding: `${label} → ${f.encoding}`, ids: f.ids });
    }
  };
  for (const m of text.matchAll(BASE64)) {
    for (let k = 0; k < 4 && m[0].length - k >= 8; k++) decoded('base64', Buffer.from(m[0].slice(k), 'base64'));
  }
  for (const m of text.matchAll(HEX)) decoded('hex', Buffer.from(m[0], 'hex'));
  return out;
}

function isUpdate(bytes: Buffer): boolean {
  try {
    decodeUpdate(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return true;
  } catch {
    return false;
  }
}

/**
 * Every place in `record` where ≥ minRun distinct ids of `liked` appear together in one
 * of the encodings above. [] when none was found (which proves nothing on its own).
 */
export function findLikedIds(record: TrafficRecord, liked: readonly number[], opts: { minRun?: number } = {}): LikedIdFinding[] {
  const set = new Set(liked);
  const minRun = Math.max(1, Math.min(opts.minRun ?? 3, set.size));
  if (set.size === 0) return [];
  const out: LikedIdFinding[] = [];
  const add = (where: string, found: { encoding: string; ids: number[] }[]) => {
    for (const f of found) out.push({ where, encoding: f.encoding, ids: f.ids });
  };
  for (const r of record.requests) {
    const where = `${r.method} ${r.url}`;
    add(`${where} (url)`, searchText(decodeUrl(r.url), set, minRun));
    for (const [name, value] of Object.entries(r.headers)) {
      if (!BROWSER_SET.test(name.toLowerCase())) add(`${where} (header ${name})`, searchText(decodeUrl(value), set, minRun));
    }
    if (r.body && r.body.length > 0) {
      add(`${where} (body)`, searchText(r.body.toString('latin1'), set, minRun));
      // A text body's bytes are character codes, not numbers: read only a binary one as binary.
      if (!mostlyPrintable(r.body)) add(`${where} (body)`, likedIdsInBinary(r.body, set, minRun));
    }
  }
  for (const s of record.sockets) add(`ws#${s.id} (url)`, searchText(decodeUrl(s.url), set, minRun));
  record.frames.forEach((f, i) => {
    const where = `ws#${f.socket} frame ${i}`;
    if (typeof f.payload === 'string') add(`${where} (text)`, searchText(f.payload, set, minRun));
    else if (!isUpdate(f.payload)) add(`${where} (binary)`, likedIdsInBinary(f.payload, set, minRun));
  });
  return out;
}
