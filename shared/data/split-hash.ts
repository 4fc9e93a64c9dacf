/**
 * A fingerprint of a leave-one-out split: two independent 32-bit FNV-1a-style lanes over
 * (numUsers, numItems, then per user: train length, train items in order, validation,
 * test), printed as 16 hex digits. Equal splits give equal hashes on every platform; any
 * changed held-out item, train item or train order changes it (with overwhelming odds).
 *
 * Used to check that a candidates file belongs to the data set it is used with, and to
 * derive the candidates' seed from the data set instead of a run's `--seed`.
 */
import type { UserSplit } from './interactions.ts';

export function splitHash(split: UserSplit, numItems: number): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x9e3779b9;
  const mix = (v: number) => {
    // Four bytes per value, little-endian, through both lanes.
    for (let s = 0; s < 32; s += 8) {
      const byte = (v >>> s) & 0xff;
      a = Math.imul(a ^ byte, 0x01000193);
      b = Math.imul(b ^ byte, 0x01000193) ^ (b >>> 15);
    }
  };
  mix(split.train.length);
  mix(numItems);
  for (let u = 0; u < split.train.length; u++) {
    const t = split.train[u];
    mix(t.length);
    for (let j = 0; j < t.length; j++) mix(t[j]);
    mix(split.validation[u]);
    mix(split.test[u]);
  }
  const hex = (x: number) => (x >>> 0).toString(16).padStart(8, '0');
  return hex(a) + hex(b);
}

/** A 32-bit seed derived from a split hash (the candidates' seed: a property of the data set). */
export function seedFromSplitHash(hash: string): number {
  return (Number.parseInt(hash.slice(0, 8), 16) ^ Number.parseInt(hash.slice(8, 16), 16)) >>> 0;
}
