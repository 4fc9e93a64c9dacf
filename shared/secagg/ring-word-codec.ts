/**
 * Masked ring vectors on the wire: 32-bit words, little-endian, whatever the host's byte
 * order, so a browser and the coordinator read the same words.
 */
import { SecAggError } from './secagg-error.ts';

export function wordsToBytes(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < words.length; i++) view.setUint32(4 * i, words[i], true);
  return out;
}

/** The words of `bytes` (any alignment, e.g. a Buffer slice of a socket frame); refuses a length other than 4 · length. */
export function bytesToWords(bytes: Uint8Array, length: number): Uint32Array {
  const out = new Uint32Array(length);
  addWordsOf(bytes, out);
  return out;
}

/**
 * Adds the words of `bytes` into `sum`, mod 2^32 (the server's running masked sum: no
 * copy per masked input); refuses a length other than 4 · sum.length and then adds nothing.
 */
export function addWordsOf(bytes: Uint8Array, sum: Uint32Array): void {
  const length = sum.length;
  if (bytes.length !== 4 * length) throw new SecAggError('malformed', `a masked input must be ${4 * length} bytes (${length} words), got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < length; i++) sum[i] += view.getUint32(4 * i, true); // a Uint32Array stores mod 2^32
}
