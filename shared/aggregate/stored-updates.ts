/**
 * A round's accepted updates, kept for the combine rules that need all of them at once
 * (trimmed mean, median, centered clipping). Memory is bounded: at most `maxUpdates`
 * updates, each stored as
 *   - rowSparse parameters (embedding tables): only the rows holding a non-zero value
 *     (int32 row ids + float32 rows), whether the client sent them dense or row-sparse;
 *   - every other parameter: dense float32.
 * So an MF update costs 4·(1 + width) bytes per touched row, a dense model its full size;
 * `bytes` reports the total. Beyond maxUpdates, add refuses with FlockError('too-large').
 * Every array is a copy (into shared slabs, see SLAB_WORDS): the caller may reuse its buffers.
 */
import { FlockError } from '../errors.ts';
import { globalParams, type ModelSpec, type ParamSpec } from '../model/model-spec.ts';
import { elementCount } from '../tensor/named-tensors.ts';
import type { DeltaTensors } from '../update/check-update.ts';
import type { RowSparseTensor } from '../update/row-sparse-clip.ts';

/**
 * Updates are copied into slabs of this many 4-byte words (1 MiB) rather than one
 * ArrayBuffer per tensor; an update larger than a slab gets a buffer of its own. At most
 * one slab's tail is unused, so memory stays ≈ `bytes` + 1 MiB.
 */
const SLAB_WORDS = 1 << 18;

/**
 * Slabs given back by released StoredUpdates (release()), taken before allocating new ones:
 * a round of stored updates is tens of MB (ML-100K: 56 slabs), and allocating and
 * collecting them every round cost more than folding them. At most POOLED_SLABS are kept
 * per thread (64 MiB); the rest are left to the garbage collector.
 */
const POOLED_SLABS = 64;
const slabPool: ArrayBuffer[] = [];

export interface StoredUpdate {
  readonly weight: number;
  /** Per global parameter, in `params` order: dense, or (rowSparse params) only the non-zero rows. */
  readonly tensors: readonly (Float32Array | RowSparseTensor)[];
}

/** Clients touching each row of one rowSparse parameter (CSR): for row r, entries start[r] … start[r+1]−1. */
export interface RowIndex {
  readonly start: Int32Array;
  /** Index into `updates`. */
  readonly update: Int32Array;
  /** Position of the row among that update's stored rows (its data is at position × width). */
  readonly position: Int32Array;
}

export class StoredUpdates {
  readonly params: readonly ParamSpec[];
  readonly updates: StoredUpdate[] = [];
  readonly maxUpdates: number;
  private weightSum = 0;
  private byteCount = 0;
  private readonly sizes: readonly { n: number; width: number }[];
  /** Per rowSparse parameter: positions of the rows kept by the current add (scratch) and how many. */
  private readonly keep: (Int32Array | undefined)[];
  private readonly keptCounts: Int32Array;
  /** The slab the next updates are copied into, and how many of its words are taken. */
  private slab: ArrayBuffer | undefined;
  private slabUsed = 0;
  /** Every slab this holds (given back to the pool by release()). */
  private readonly slabs: ArrayBuffer[] = [];
  private released = false;

  constructor(spec: ModelSpec, maxUpdates: number) {
    if (!(maxUpdates >= 1)) throw new FlockError('bad-config', `maxUpdates must be at least 1, got ${maxUpdates}`);
    this.params = globalParams(spec);
    this.maxUpdates = maxUpdates;
    this.sizes = this.params.map((p) => {
      const n = elementCount(p.shape);
      return { n, width: n / (p.shape[0] ?? 1) };
    });
    this.keep = this.params.map(() => undefined);
    this.keptCounts = new Int32Array(this.params.length);
  }

  get count(): number {
    return this.updates.length;
  }

  get totalWeight(): number {
    return this.weightSum;
  }

  /** Bytes held by the stored tensors. */
  get bytes(): number {
    return this.byteCount;
  }

  /** Throws FlockError('too-large') when one more update would exceed maxUpdates (or 'malformed' once released). */
  checkRoom(): void {
    if (this.released) throw new FlockError('malformed', 'this round\'s updates were already combined and released: nothing more can be added');
    if (this.updates.length >= this.maxUpdates) {
      throw new FlockError('too-large', `this round already holds ${this.maxUpdates} updates, the most its combine rule keeps in memory (maxUpdates)`);
    }
  }

  /** Stores a validated delta (names and shapes already checked) with its weight. */
  add(delta: DeltaTensors, weight: number): void {
    this.checkRoom();
    const params = this.params;
    const sizes = this.sizes;
    // Pass 1: which rows of each rowSparse parameter hold a non-zero value (usually the
    // first value of a row decides), so the words this update needs are known exactly.
    let words = 0;
    for (let pi = 0; pi < params.length; pi++) {
      const t = delta[params[pi].name];
      if (!params[pi].rowSparse) {
        words += sizes[pi].n;
        continue;
      }
      const data = t instanceof Float32Array ? t : t.data;
      const count = data.length / sizes[pi].width;
      const kept = nonZeroRows(data, count, sizes[pi].width, this.keepScratch(pi, count));
      this.keptCounts[pi] = kept;
      words += kept * (1 + sizes[pi].width);
    }
    // Pass 2: copy into one reserved run of the current slab (one allocation per slab, not
    // per tensor: small updates were dominated by ArrayBuffer allocations).
    const { buffer, offset } = this.reserve(words);
    let at = offset;
    const tensors: (Float32Array | RowSparseTensor)[] = [];
    for (let pi = 0; pi < params.length; pi++) {
      const p = params[pi];
      const t = delta[p.name];
      const { n, width } = sizes[pi];
      if (!p.rowSparse) {
        const dense = new Float32Array(buffer, at * 4, n);
        if (t instanceof Float32Array) dense.set(t);
        else {
          dense.fill(0); // a pooled slab holds an earlier round's values
          for (let i = 0; i < t.rows.length; i++) dense.set(t.data.subarray(i * width, (i + 1) * width), t.rows[i] * width);
        }
        tensors.push(dense);
        at += n;
        continue;
      }
      const rows = t instanceof Float32Array ? null : t.rows;
      const data = t instanceof Float32Array ? t : t.data;
      const count = data.length / width;
      const kept = this.keptCounts[pi];
      const outRows = new Int32Array(buffer, at * 4, kept);
      at += kept;
      const outData = new Float32Array(buffer, at * 4, kept * width);
      at += kept * width;
      if (kept === count) {
        // Every row kept (the common case): two block copies.
        if (rows) outRows.set(rows);
        else for (let i = 0; i < count; i++) outRows[i] = i;
        outData.set(data);
      } else {
        const keep = this.keepScratch(pi, count);
        for (let k = 0; k < kept; k++) {
          const i = keep[k];
          outRows[k] = rows ? rows[i] : i;
          outData.set(data.subarray(i * width, (i + 1) * width), k * width);
        }
      }
      tensors.push({ rows: outRows, data: outData });
    }
    this.byteCount += words * 4;
    this.updates.push({ weight, tensors });
    this.weightSum += weight;
  }

  /** Positions of kept rows for parameter `pi` (reused across updates; grown as needed). */
  private keepScratch(pi: number, count: number): Int32Array {
    let s = this.keep[pi];
    if (!s || s.length < count) s = this.keep[pi] = new Int32Array(Math.max(count, 16));
    return s;
  }

  /** `words` 4-byte words in a slab: the current one when they fit, else a fresh slab (or a buffer of their own when larger). */
  private reserve(words: number): { buffer: ArrayBuffer; offset: number } {
    if (words > SLAB_WORDS) return { buffer: new ArrayBuffer(words * 4), offset: 0 };
    if (!this.slab || this.slabUsed + words > SLAB_WORDS) {
      this.slab = slabPool.pop() ?? new ArrayBuffer(SLAB_WORDS * 4);
      this.slabs.push(this.slab);
      this.slabUsed = 0;
    }
    const offset = this.slabUsed;
    this.slabUsed += words;
    return { buffer: this.slab, offset };
  }

  /**
   * Drops the stored updates and gives their slabs back to this thread's pool, for the next
   * round's StoredUpdates to fill. Call it only when nothing reads the updates any more (the
   * combine rule's result is computed); afterwards count is 0 and add() is refused.
   */
  release(): void {
    this.released = true;
    this.updates.length = 0;
    for (const slab of this.slabs) if (slabPool.length < POOLED_SLABS) slabPool.push(slab);
    this.slabs.length = 0;
    this.slab = undefined;
  }

  /** Which updates touched each row of rowSparse parameter `paramIndex` (in update order). */
  rowIndex(paramIndex: number): RowIndex {
    const p = this.params[paramIndex];
    const numRows = p.shape[0] ?? 1;
    const start = new Int32Array(numRows + 1);
    for (const u of this.updates) {
      const t = u.tensors[paramIndex] as RowSparseTensor;
      for (let i = 0; i < t.rows.length; i++) start[t.rows[i] + 1]++;
    }
    for (let r = 0; r < numRows; r++) start[r + 1] += start[r];
    const fill = start.slice(0, numRows);
    const update = new Int32Array(start[numRows]);
    const position = new Int32Array(start[numRows]);
    this.updates.forEach((u, k) => {
      const t = u.tensors[paramIndex] as RowSparseTensor;
      for (let i = 0; i < t.rows.length; i++) {
        const at = fill[t.rows[i]]++;
        update[at] = k;
        position[at] = i;
      }
    });
    return { start, update, position };
  }
}

/** Writes into `keep` the positions of the rows (of `count`, `width` values each) holding a non-zero value; returns how many. */
function nonZeroRows(data: Float32Array, count: number, width: number, keep: Int32Array): number {
  let kept = 0;
  for (let i = 0, off = 0; i < count; i++, off += width) {
    for (let j = off; j < off + width; j++) {
      if (data[j] !== 0) {
        keep[kept++] = i;
        break;
      }
    }
  }
  return kept;
}
