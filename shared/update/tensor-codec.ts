/**
 * The one binary codec for tensors on the wire (client → coordinator updates) and on
 * disk (weight checkpoints). Never JSON arrays of numbers: they are ~3× larger and
 * slow to parse. All integers and floats are little-endian; float payloads start at
 * a 4-byte-aligned offset from the start of the message.
 *
 * Update ('FLKU'):
 *   magic[4] formatVersion:u16 reserved:u16 round:u32 baseVersion:u32
 *   numExamples:f64 preClipNorm:f64 tensorSection
 * Weights ('FLKW'):
 *   magic[4] formatVersion:u16 reserved:u16 version:u32 round:u32 modelKind:str
 *   tensorSection
 * tensorSection: count:u32, then per tensor
 *   name:str layout:u8(0 dense, 1 row-sparse) dtype:u8 rank:u8 reserved:u8
 *   dims:u32[rank] [row-sparse: rowCount:u32 rows:u32[rowCount]] payload
 * payload by dtype (n = the values sent: all, or rowCount × width for row-sparse):
 *   1 f32:  f32[n]
 *   2 f16:  u16[n] (IEEE binary16, float16.ts), zero-padded to a multiple of 4 bytes
 *   3 int8: scales:f32[g] values:i8[n] (quantize-int8.ts; g = int8ScaleRows: the rows
 *           sent for rank ≥ 2, one for the whole tensor below), zero-padded to 4 bytes
 * f16 and int8 only in updates (issue 11, negotiated per round: update-encoding.ts);
 * weights files are always f32.
 * str: byteLength:u16 then utf8 bytes, zero-padded so the next field starts at a multiple of 4.
 *
 * Decoding is defensive: input comes from untrusted peers. Every read is bounds
 * checked and any inconsistency throws FlockError ('malformed', or
 * 'unsupported-format' for an unknown format version / dtype); nothing partial is
 * returned. Decoded arrays are fresh copies, never views into the input buffer
 * (socket.io may reuse it) — except with decodeUpdate's `views` option, for a caller
 * that uses the update before it returns (the coordinator folds it synchronously).
 */
import { FlockError } from '../errors.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import { elementCount, type NamedTensors } from '../tensor/named-tensors.ts';
import { decodeFloat16 } from './float16.ts';
import { dequantizeInt8Rows } from './quantize-int8.ts';
import type { UpdateEncoding } from './update-encoding.ts';

export const UPDATE_FORMAT_VERSION = 1;
export const WEIGHTS_FORMAT_VERSION = 1;

export interface WireTensor {
  name: string;
  shape: number[];
  data: Float32Array;
  /** Present ⇒ row-sparse: `data` holds rows.length × prod(shape[1..]) floats for these rows (strictly increasing). */
  rows?: Uint32Array;
  /**
   * Present ⇒ the values travel compressed (f16 or int8, update-encoding.ts) and `data`
   * holds their decoded float32 values: quantize-update.ts builds both for the encoder,
   * decodeUpdate returns both. Absent ⇒ f32.
   */
  packed?: PackedValues;
}

/** A tensor's values in a compressed wire encoding (same order and count as `data`). */
export type PackedValues =
  | { readonly encoding: Extract<UpdateEncoding, 'f16'>; readonly halves: Uint16Array }
  | { readonly encoding: Extract<UpdateEncoding, 'int8'>; readonly scales: Float32Array; readonly values: Int8Array };

/** How many int8 scales a tensor's payload carries: one per row sent for rank ≥ 2, one for the whole tensor below. */
export function int8ScaleRows(t: Pick<WireTensor, 'shape' | 'rows'>): number {
  if (t.shape.length < 2) return 1;
  return t.rows ? t.rows.length : t.shape[0];
}

export interface ModelUpdate {
  round: number;
  baseVersion: number;
  numExamples: number;
  preClipNorm: number;
  tensors: WireTensor[];
}

export interface WeightsFile {
  version: number;
  modelKind: string;
  round: number;
  tensors: WireTensor[];
}

const UPDATE_MAGIC = 'FLKU';
const WEIGHTS_MAGIC = 'FLKW';
const LAYOUT_DENSE = 0;
const LAYOUT_ROW_SPARSE = 1;
const DTYPE_F32 = 1;
const DTYPE_F16 = 2;
const DTYPE_INT8 = 3;
const MAX_RANK = 8;
const MAX_NAME_BYTES = 1024;
/**
 * Cap on a tensor's dense element count (1 GiB of f32). A row-sparse tensor's payload
 * is small whatever shape[0] claims, so without this a tiny message could make
 * fromWireTensors allocate an absurd dense array.
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The largest encoded update a client of `spec` can honestly send: every GLOBAL float
 * dense or row-sparse (a row index per row at most doubles it), plus headers. The
 * coordinator refuses larger messages at the transport, before buffering them.
 */
export function maxEncodedUpdateBytes(spec: ModelSpec): number {
  const floats = spec.params.filter((p) => p.scope === 'global').reduce((n, p) => n + elementCount(p.shape), 0);
  return floats * 8 + 64 * 1024;
}

// ---------------------------------------------------------------- validation

/**
 * Checks a tensor is self-consistent; shared by encoder, decoder and fromWireTensors.
 * `whereText` names it in messages (default: `tensor "name"`, built only when thrown).
 */
function validateTensor(t: WireTensor, whereText?: string): void {
  if (!tensorLooksValid(t)) validateTensorAt(t, whereText ?? `tensor ${JSON.stringify(t.name)}`);
}

/** The checks of validateTensorAt without building any message: true when it would pass. */
function tensorLooksValid(t: WireTensor): boolean {
  if (t.name.length === 0 || t.name === '__proto__' || t.shape.length > MAX_RANK) return false;
  let dense = 1;
  for (let i = 0; i < t.shape.length; i++) {
    const d = t.shape[i];
    if (!(Number.isInteger(d) && d >= 1 && d <= 0xffffffff)) return false;
    dense *= d;
  }
  if (dense > MAX_TENSOR_ELEMENTS) return false;
  if (t.packed && !packedLooksValid(t, t.packed)) return false;
  const rows = t.rows;
  if (!rows) return t.data.length === dense;
  if (t.shape.length < 1) return false;
  const rowCount = t.shape[0];
  let prev = -1;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(r > prev && r < rowCount)) return false;
    prev = r;
  }
  return t.data.length === rows.length * (dense / rowCount);
}

function packedLooksValid(t: WireTensor, p: PackedValues): boolean {
  if (p.encoding === 'f16') return p.halves.length === t.data.length;
  return p.values.length === t.data.length && p.scales.length === int8ScaleRows(t);
}

function validateTensorAt(t: WireTensor, where: string): void {
  // '__proto__' as a key of a plain object would replace its prototype instead of adding a tensor.
  if (t.name.length === 0 || t.name === '__proto__') throw malformed(`${where}: invalid tensor name ${JSON.stringify(t.name)}`);
  if (t.shape.length > MAX_RANK) throw malformed(`${where}: rank ${t.shape.length} exceeds ${MAX_RANK}`);
  for (const d of t.shape) {
    if (!Number.isInteger(d) || d < 1 || d > 0xffffffff) throw malformed(`${where}: bad dimension ${d} in shape [${t.shape}]`);
  }
  const dense = elementCount(t.shape);
  if (dense > MAX_TENSOR_ELEMENTS) throw malformed(`${where}: shape [${t.shape}] has ${dense} elements, limit ${MAX_TENSOR_ELEMENTS}`);
  if (t.rows) {
    if (t.shape.length < 1) throw malformed(`${where}: row-sparse tensor needs rank ≥ 1`);
    const rowCount = t.shape[0];
    for (let i = 0; i < t.rows.length; i++) {
      if (t.rows[i] >= rowCount) throw malformed(`${where}: row index ${t.rows[i]} out of range [0, ${rowCount})`);
      if (i > 0 && t.rows[i] <= t.rows[i - 1]) throw malformed(`${where}: row indices not strictly increasing at position ${i}`);
    }
  }
  const expected = t.rows ? t.rows.length * (dense / t.shape[0]) : dense;
  if (t.data.length !== expected) throw malformed(`${where}: expected ${expected} values for shape [${t.shape}], got ${t.data.length}`);
  if (t.packed && !packedLooksValid(t, t.packed)) throw malformed(`${where}: ${t.packed.encoding} values do not match its ${t.data.length} values${t.packed.encoding === 'int8' ? ` and ${int8ScaleRows(t)} rows` : ''}`);
}

/**
 * Tensor names seen lately, so the decoder need not run the UTF-8 decoder on the same few
 * names in every update: bytes → string, compared byte for byte, at most NAME_CACHE_SIZE.
 */
const NAME_CACHE_SIZE = 64;
const nameCache: { bytes: Uint8Array; name: string }[] = [];

function cachedName(b: Uint8Array, at: number, n: number): string | undefined {
  for (const e of nameCache) {
    const k = e.bytes;
    if (k.length !== n) continue;
    let i = 0;
    while (i < n && k[i] === b[at + i]) i++;
    if (i === n) return e.name;
  }
  return undefined;
}

function rememberName(b: Uint8Array, at: number, n: number, name: string): string {
  if (nameCache.length >= NAME_CACHE_SIZE) nameCache.shift();
  nameCache.push({ bytes: b.slice(at, at + n), name });
  return name;
}

function malformed(msg: string): FlockError {
  return new FlockError('malformed', msg);
}

// ---------------------------------------------------------------- writing

class Writer {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void { this.ensure(1); this.view.setUint8(this.pos, v); this.pos += 1; }
  u16(v: number): void { this.ensure(2); this.view.setUint16(this.pos, v, true); this.pos += 2; }
  u32(v: number): void { this.ensure(4); this.view.setUint32(this.pos, v, true); this.pos += 4; }
  f64(v: number): void { this.ensure(8); this.view.setFloat64(this.pos, v, true); this.pos += 8; }
  ascii(s: string): void { for (let i = 0; i < s.length; i++) this.u8(s.charCodeAt(i)); }
  str(s: string, what: string): void {
    const b = utf8Encoder.encode(s);
    if (b.length > MAX_NAME_BYTES) throw malformed(`${what} is ${b.length} bytes, limit ${MAX_NAME_BYTES}`);
    this.u16(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    this.pad4();
  }
  pad4(): void { while (this.pos % 4 !== 0) this.u8(0); }
  u32s(a: Uint32Array): void {
    this.ensure(a.length * 4);
    for (let i = 0; i < a.length; i++) this.view.setUint32(this.pos + i * 4, a[i], true);
    this.pos += a.length * 4;
  }
  f32s(a: Float32Array): void {
    this.ensure(a.length * 4);
    if (LITTLE_ENDIAN_HOST) {
      this.buf.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), this.pos);
    } else {
      for (let i = 0; i < a.length; i++) this.view.setFloat32(this.pos + i * 4, a[i], true);
    }
    this.pos += a.length * 4;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  u16s(a: Uint16Array): void {
    if (LITTLE_ENDIAN_HOST) return this.bytes(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    this.ensure(a.length * 2);
    for (let i = 0; i < a.length; i++) this.view.setUint16(this.pos + i * 2, a[i], true);
    this.pos += a.length * 2;
  }
  finish(): Uint8Array { return this.buf.slice(0, this.pos); }
}

function uint32Field(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw malformed(`${what} must be an integer in [0, 2^32), got ${v}`);
  return v;
}

function writeTensors(w: Writer, tensors: WireTensor[], allowPacked: boolean): void {
  const seen = new Set<string>();
  w.u32(tensors.length);
  for (const t of tensors) {
    if (seen.has(t.name)) throw malformed(`duplicate tensor name ${t.name}`);
    seen.add(t.name);
    validateTensor(t, `tensor ${t.name}`);
    const packed = t.packed;
    if (packed && !allowPacked) throw malformed(`tensor ${t.name}: ${packed.encoding} values only go in updates; weights files are f32`);
    w.str(t.name, `tensor name ${t.name}`);
    w.u8(t.rows ? LAYOUT_ROW_SPARSE : LAYOUT_DENSE);
    w.u8(!packed ? DTYPE_F32 : packed.encoding === 'f16' ? DTYPE_F16 : DTYPE_INT8);
    w.u8(t.shape.length);
    w.u8(0);
    for (const d of t.shape) w.u32(d);
    if (t.rows) {
      w.u32(t.rows.length);
      w.u32s(t.rows);
    }
    if (!packed) w.f32s(t.data);
    else if (packed.encoding === 'f16') {
      w.u16s(packed.halves);
      w.pad4();
    } else {
      w.f32s(packed.scales);
      w.bytes(new Uint8Array(packed.values.buffer, packed.values.byteOffset, packed.values.byteLength));
      w.pad4();
    }
  }
}

export function encodeUpdate(u: ModelUpdate): Uint8Array {
  const w = new Writer();
  w.ascii(UPDATE_MAGIC);
  w.u16(UPDATE_FORMAT_VERSION);
  w.u16(0);
  w.u32(uint32Field(u.round, 'round'));
  w.u32(uint32Field(u.baseVersion, 'baseVersion'));
  w.f64(u.numExamples);
  w.f64(u.preClipNorm);
  writeTensors(w, u.tensors, true);
  return w.finish();
}

export function encodeWeights(wf: WeightsFile): Uint8Array {
  const w = new Writer();
  w.ascii(WEIGHTS_MAGIC);
  w.u16(WEIGHTS_FORMAT_VERSION);
  w.u16(0);
  w.u32(uint32Field(wf.version, 'version'));
  w.u32(uint32Field(wf.round, 'round'));
  w.str(wf.modelKind, 'modelKind');
  writeTensors(w, wf.tensors, false);
  return w.finish();
}

// ---------------------------------------------------------------- reading

class Reader {
  private readonly view: DataView;
  pos = 0;
  /** The tensor being read (named in error messages as `tensor "name" field`), or null. */
  tensor: string | null = null;
  constructor(private readonly bytes: Uint8Array, private readonly what: string, private readonly views = false) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get remaining(): number { return this.bytes.length - this.pos; }
  private need(n: number, field: string): void {
    if (n > this.remaining) {
      const where = this.tensor === null ? field : `tensor ${JSON.stringify(this.tensor)} ${field}`;
      throw malformed(`${this.what} truncated: need ${n} bytes for ${where} at offset ${this.pos}, only ${this.remaining} left`);
    }
  }
  u8(field: string): number { this.need(1, field); return this.view.getUint8(this.pos++); }
  u16(field: string): number { this.need(2, field); const v = this.view.getUint16(this.pos, true); this.pos += 2; return v; }
  u32(field: string): number { this.need(4, field); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  f64(field: string): number { this.need(8, field); const v = this.view.getFloat64(this.pos, true); this.pos += 8; return v; }
  ascii(n: number, field: string): string {
    this.need(n, field);
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.bytes[this.pos + i]);
    this.pos += n;
    return s;
  }
  str(field: string): string {
    const n = this.u16(`${field} length`);
    // The writer pads to a 4-byte boundary of the message offset (not of n).
    const padded = ((this.pos + n + 3) & ~3) - this.pos;
    this.need(padded, field);
    let s: string;
    try {
      s = cachedName(this.bytes, this.pos, n) ?? rememberName(this.bytes, this.pos, n, utf8Decoder.decode(this.bytes.subarray(this.pos, this.pos + n)));
    } catch {
      throw malformed(`${this.what}: ${field} at offset ${this.pos} is not valid UTF-8`);
    }
    this.pos += padded;
    return s;
  }
  /** Whether the next `n` 4-byte words can be viewed in place (little-endian host, 4-byte aligned in memory). */
  private viewable(): boolean {
    return this.views && LITTLE_ENDIAN_HOST && (this.bytes.byteOffset + this.pos) % 4 === 0;
  }
  u32s(n: number, field: string): Uint32Array {
    this.need(n * 4, field);
    let out: Uint32Array;
    if (this.viewable()) {
      out = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset + this.pos, n);
    } else if (LITTLE_ENDIAN_HOST) {
      out = new Uint32Array(n);
      new Uint8Array(out.buffer).set(this.bytes.subarray(this.pos, this.pos + n * 4));
    } else {
      out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = this.view.getUint32(this.pos + i * 4, true);
    }
    this.pos += n * 4;
    return out;
  }
  /** Like f32s for n binary16 words (a view where 2-byte aligned), then the padding to 4 bytes. */
  u16sPadded(n: number, field: string): Uint16Array {
    const padded = (n * 2 + 3) & ~3;
    this.need(padded, field);
    let out: Uint16Array;
    if (this.views && LITTLE_ENDIAN_HOST && (this.bytes.byteOffset + this.pos) % 2 === 0) {
      out = new Uint16Array(this.bytes.buffer, this.bytes.byteOffset + this.pos, n);
    } else {
      out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = this.view.getUint16(this.pos + i * 2, true);
    }
    this.pos += padded;
    return out;
  }
  /** n int8 values (a view with `views`, else a copy), then the padding to 4 bytes. */
  i8sPadded(n: number, field: string): Int8Array {
    const padded = (n + 3) & ~3;
    this.need(padded, field);
    const at = this.bytes.byteOffset + this.pos;
    const out = this.views ? new Int8Array(this.bytes.buffer, at, n) : new Int8Array(this.bytes.buffer.slice(at, at + n));
    this.pos += padded;
    return out;
  }
  /** A fresh Float32Array (copy); with `views`, a view into the input where it is aligned. */
  f32s(n: number, field: string): Float32Array {
    this.need(n * 4, field);
    if (this.viewable()) {
      const v = new Float32Array(this.bytes.buffer, this.bytes.byteOffset + this.pos, n);
      this.pos += n * 4;
      return v;
    }
    const out = new Float32Array(n);
    if (LITTLE_ENDIAN_HOST) {
      new Uint8Array(out.buffer).set(this.bytes.subarray(this.pos, this.pos + n * 4));
    } else {
      for (let i = 0; i < n; i++) out[i] = this.view.getFloat32(this.pos + i * 4, true);
    }
    this.pos += n * 4;
    return out;
  }
  header(magic: string, supportedVersion: number): void {
    this.need(4, 'magic');
    const b = this.bytes;
    const p = this.pos;
    const same = b[p] === magic.charCodeAt(0) && b[p + 1] === magic.charCodeAt(1) && b[p + 2] === magic.charCodeAt(2) && b[p + 3] === magic.charCodeAt(3);
    const m = same ? magic : this.ascii(4, 'magic');
    if (same) this.pos += 4;
    if (m !== magic) throw malformed(`${this.what}: bad magic ${JSON.stringify(m)}, expected ${JSON.stringify(magic)}`);
    const v = this.u16('format version');
    if (v !== supportedVersion) {
      throw new FlockError('unsupported-format', `${this.what}: format version ${v} not supported (expected ${supportedVersion})`);
    }
    this.u16('reserved');
  }
  end(): void {
    if (this.remaining !== 0) throw malformed(`${this.what}: ${this.remaining} unexpected trailing bytes at offset ${this.pos}`);
  }
}

/** How the decoder names a tensor in its messages. */
function whereOf(name: string): string {
  return `tensor ${JSON.stringify(name)}`;
}

function readTensors(r: Reader, allowPacked: boolean): WireTensor[] {
  const count = r.u32('tensor count');
  // Each tensor needs at least 8 bytes (name length + padding + layout word): reject absurd counts early.
  if (count * 8 > r.remaining) throw malformed(`tensor count ${count} cannot fit in the remaining ${r.remaining} bytes`);
  const out: WireTensor[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    r.tensor = null;
    const name = r.str(`tensor ${i} name`);
    // Messages name the tensor; built only when one is thrown.
    r.tensor = name;
    if (seen.has(name)) throw malformed(`duplicate tensor name ${JSON.stringify(name)}`);
    seen.add(name);
    const layout = r.u8('layout');
    const dtype = r.u8('dtype');
    const rank = r.u8('rank');
    r.u8('reserved');
    if (layout !== LAYOUT_DENSE && layout !== LAYOUT_ROW_SPARSE) throw malformed(`${whereOf(name)}: unknown layout ${layout}`);
    const known = dtype === DTYPE_F32 || (allowPacked && (dtype === DTYPE_F16 || dtype === DTYPE_INT8));
    if (!known) throw new FlockError('unsupported-format', `${whereOf(name)}: unsupported dtype ${dtype} (${allowPacked ? `f32 = ${DTYPE_F32}, f16 = ${DTYPE_F16}, int8 = ${DTYPE_INT8}` : `only f32 = ${DTYPE_F32}`})`);
    if (rank > MAX_RANK) throw malformed(`${whereOf(name)}: rank ${rank} exceeds ${MAX_RANK}`);
    const shape: number[] = [];
    for (let d = 0; d < rank; d++) shape.push(r.u32('dims'));
    if (shape.some((d) => d === 0)) throw malformed(`${whereOf(name)}: zero dimension in shape [${shape}]`);
    let rows: Uint32Array | undefined;
    let n: number;
    if (layout === LAYOUT_ROW_SPARSE) {
      if (rank < 1) throw malformed(`${whereOf(name)}: row-sparse tensor needs rank ≥ 1`);
      const rowCount = r.u32('row count');
      if (rowCount > shape[0]) throw malformed(`${whereOf(name)}: ${rowCount} rows listed but shape has ${shape[0]}`);
      rows = r.u32s(rowCount, 'rows');
      n = rowCount * (elementCount(shape) / shape[0]);
    } else {
      n = elementCount(shape);
    }
    const scaleRows = dtype === DTYPE_INT8 ? int8ScaleRows({ shape, rows }) : 0;
    const payloadBytes = dtype === DTYPE_F32 ? n * 4 : dtype === DTYPE_F16 ? n * 2 : scaleRows * 4 + n;
    // Products of u32 dims can exceed 2^53; compare in bytes against what is left before allocating.
    if (!(payloadBytes <= r.remaining)) throw malformed(`${whereOf(name)}: shape [${shape}] needs ${payloadBytes} payload bytes, only ${r.remaining} left`);
    let data: Float32Array;
    let packed: PackedValues | undefined;
    if (dtype === DTYPE_F32) data = r.f32s(n, 'payload');
    else if (dtype === DTYPE_F16) {
      packed = { encoding: 'f16', halves: r.u16sPadded(n, 'payload') };
      data = new Float32Array(n);
      decodeFloat16(packed.halves, data);
    } else {
      const scales = r.f32s(scaleRows, 'scales');
      packed = { encoding: 'int8', scales, values: r.i8sPadded(n, 'payload') };
      data = new Float32Array(n);
      dequantizeInt8Rows(packed, data);
    }
    const t: WireTensor = rows ? { name, shape, data, rows } : { name, shape, data };
    if (packed) t.packed = packed;
    validateTensor(t);
    out.push(t);
  }
  r.tensor = null;
  return out;
}

/**
 * Decodes an encoded update. `maxBytes`: refuse larger input ('too-large').
 * Tensor data and row indices are views into one private copy of the message (they
 * share its ArrayBuffer; none aliases `bytes`). With `views`, they are views into
 * `bytes` itself wherever 4-byte aligned in memory (copies elsewhere): no copy at all,
 * but they change when `bytes` does, so use the update before the buffer can be reused
 * (RoundAggregation.add keeps nothing of them).
 */
export function decodeUpdate(bytes: Uint8Array, limits?: { maxBytes?: number; views?: boolean }): ModelUpdate {
  if (limits?.maxBytes !== undefined && bytes.length > limits.maxBytes) {
    throw new FlockError('too-large', `update is ${bytes.length} bytes, limit ${limits.maxBytes}`);
  }
  // Without views: one copy of the whole message, then views into that private copy — the
  // arrays never alias `bytes`, and it costs one allocation instead of one per tensor.
  const r = limits?.views === true ? new Reader(bytes, 'update', true) : new Reader(bytes.slice(), 'update', true);
  r.header(UPDATE_MAGIC, UPDATE_FORMAT_VERSION);
  const round = r.u32('round');
  const baseVersion = r.u32('baseVersion');
  const numExamples = r.f64('numExamples');
  const preClipNorm = r.f64('preClipNorm');
  const tensors = readTensors(r, true);
  r.end();
  return { round, baseVersion, numExamples, preClipNorm, tensors };
}

/**
 * The round an encoded update is for, read from its header alone (magic and format
 * checked), so the coordinator can refuse a late update without decoding its tensors.
 */
export function peekUpdateRound(bytes: Uint8Array): number {
  const r = new Reader(bytes, 'update');
  r.header(UPDATE_MAGIC, UPDATE_FORMAT_VERSION);
  return r.u32('round');
}

export function decodeWeights(bytes: Uint8Array): WeightsFile {
  const r = new Reader(bytes, 'weights file');
  r.header(WEIGHTS_MAGIC, WEIGHTS_FORMAT_VERSION);
  const version = r.u32('version');
  const round = r.u32('round');
  const modelKind = r.str('modelKind');
  const tensors = readTensors(r, false);
  r.end();
  return { version, modelKind, round, tensors };
}

// ---------------------------------------------------------------- NamedTensors ⇄ wire

/**
 * How rowSparse params go on the wire: 'dense' (every row), 'row-sparse' (only the rows
 * holding a non-zero value), or 'when-smaller' (row-sparse when that encoding is
 * smaller: touched rows × (width + 1) < rows × width words).
 */
export type RowEncoding = 'dense' | 'row-sparse' | 'when-smaller';

/**
 * Tensors of `t` in spec order, shapes taken from the spec. With `sparseRows`, params
 * marked rowSparse are sent as only the rows holding any non-zero value (true: always;
 * 'when-smaller': only when that is smaller than dense). That is smaller, and reveals
 * which items were touched exactly as much as dense does (untouched rows are exactly 0
 * in a dense update too — see THREAT-MODEL.md, "What a curious coordinator sees").
 */
export function toWireTensors(spec: ModelSpec, t: NamedTensors, opts?: { sparseRows?: boolean | 'when-smaller' }): WireTensor[] {
  const out: WireTensor[] = [];
  for (const name of Object.keys(t)) {
    if (!spec.params.some((p) => p.name === name)) throw new FlockError('wrong-shape', `tensor ${name} is not a parameter of model ${spec.kind}`);
  }
  const sparse = opts?.sparseRows ?? false;
  for (const p of spec.params) {
    const data = t[p.name];
    if (!data) continue;
    const n = elementCount(p.shape);
    if (data.length !== n) throw new FlockError('wrong-shape', `tensor ${p.name}: expected ${n} values for shape [${p.shape}], got ${data.length}`);
    const shape = [...p.shape];
    if (!(sparse !== false && p.rowSparse && shape.length >= 1)) {
      out.push({ name: p.name, shape, data: data.slice() });
      continue;
    }
    const numRows = shape[0];
    const width = n / numRows;
    const touched = new Uint8Array(numRows);
    let count = 0;
    for (let r = 0, off = 0; r < numRows; r++, off += width) {
      for (let j = off; j < off + width; j++) {
        if (data[j] !== 0) {
          touched[r] = 1;
          count++;
          break;
        }
      }
    }
    if (sparse === 'when-smaller' && !(count * (width + 1) < n)) {
      out.push({ name: p.name, shape, data: data.slice() });
      continue;
    }
    const rows = new Uint32Array(count);
    const packed = new Float32Array(count * width);
    for (let r = 0, i = 0; r < numRows; r++) {
      if (!touched[r]) continue;
      rows[i] = r;
      packed.set(data.subarray(r * width, (r + 1) * width), i * width);
      i++;
    }
    out.push({ name: p.name, shape, data: packed, rows });
  }
  return out;
}

/** Dense NamedTensors from wire tensors (row-sparse ones densified, untouched rows 0). */
export function fromWireTensors(tensors: WireTensor[]): NamedTensors {
  const out: NamedTensors = {};
  for (const t of tensors) {
    if (Object.prototype.hasOwnProperty.call(out, t.name)) throw malformed(`duplicate tensor name ${t.name}`);
    validateTensor(t, `tensor ${t.name}`);
    if (!t.rows) {
      out[t.name] = t.data.slice();
      continue;
    }
    const width = elementCount(t.shape.slice(1));
    const dense = new Float32Array(elementCount(t.shape));
    for (let i = 0; i < t.rows.length; i++) dense.set(t.data.subarray(i * width, (i + 1) * width), t.rows[i] * width);
    out[t.name] = dense;
  }
  return out;
}
