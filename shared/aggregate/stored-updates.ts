/**
 * A round's accepted updates, kept for the combine rules that need all of them at once
 * (trimmed mean, median, centered clipping). Memory is bounded: at most `maxUpdates`
 * updates, each stored as
 *   - rowSparse parameters (embedding tables): only the rows holding a non-zero value
 *     (int32 row ids + float32 rows), whether the client sent them dense or row-sparse;
 *   - every other parameter: dense float32.
 * So an MF update costs 4·(1 + width) bytes per touched row, a dense model its full size;
 * `bytes` reports the total. Beyond maxUpdates, add refuses with FlockError('too-large').
 * Every array is a copy: the caller may reuse its buffers.
 */
import { FlockError } from '../errors.ts';
import { globalParams, type ModelSpec, type ParamSpec } from '../model/model-spec.ts';
import { elementCount } from '../tensor/named-tensors.ts';
import type { DeltaTensors } from '../update/check-update.ts';
import type { RowSparseTensor } from '../update/row-sparse-clip.ts';

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

  constructor(spec: ModelSpec, maxUpdates: number) {
    if (!(maxUpdates >= 1)) throw new FlockError('bad-config', `maxUpdates must be at least 1, got ${maxUpdates}`);
    this.params = globalParams(spec);
    this.maxUpdates = maxUpdates;
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

  /** Throws FlockError('too-large') when one more update would exceed maxUpdates. */
  checkRoom(): void {
    if (this.updates.length >= this.maxUpdates) {
      throw new FlockError('too-large', `this round already holds ${this.maxUpdates} updates, the most its combine rule keeps in memory (maxUpdates)`);
    }
  }

  /** Stores a validated delta (names and shapes already checked) with its weight. */
  add(delta: DeltaTensors, weight: number): void {
    this.checkRoom();
    const tensors = this.params.map((p) => {
      const t = delta[p.name];
      const n = elementCount(p.shape);
      if (!p.rowSparse) {
        if (t instanceof Float32Array) return t.slice();
        const dense = new Float32Array(n);
        const width = n / (p.shape[0] ?? 1);
        for (let i = 0; i < t.rows.length; i++) dense.set(t.data.subarray(i * width, (i + 1) * width), t.rows[i] * width);
        return dense;
      }
      const numRows = p.shape[0] ?? 1;
      const width = n / numRows;
      const rows = t instanceof Float32Array ? null : t.rows;
      const data = t instanceof Float32Array ? t : t.data;
      const count = rows ? rows.length : numRows;
      const keep: number[] = [];
      for (let i = 0; i < count; i++) {
        for (let j = i * width; j < (i + 1) * width; j++) {
          if (data[j] !== 0) {
            keep.push(i);
            break;
          }
        }
      }
      const outRows = new Int32Array(keep.length);
      const outData = new Float32Array(keep.length * width);
      keep.forEach((i, k) => {
        outRows[k] = rows ? rows[i] : i;
        outData.set(data.subarray(i * width, (i + 1) * width), k * width);
      });
      return { rows: outRows, data: outData };
    });
    for (const t of tensors) this.byteCount += t instanceof Float32Array ? t.byteLength : t.rows.byteLength + t.data.byteLength;
    this.updates.push({ weight, tensors });
    this.weightSum += weight;
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
