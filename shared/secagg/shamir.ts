/**
 * Shamir t-of-k secret sharing (Shamir 1979, "How to Share a Secret") over the prime
 * field GF(2^521 − 1) (the Mersenne prime M521; field arithmetic from
 * @noble/curves/abstract/modular). A secret of up to 64 bytes is one field element; a
 * share is the 66-byte big-endian value of a random degree-(t − 1) polynomial with the
 * secret as constant term, at the holder's x-coordinate (index in the round + 1).
 */
import { Field } from '@noble/curves/abstract/modular.js';
import { SecAggError } from './secagg-error.ts';

const Fp = Field(2n ** 521n - 1n);
export const SHARE_BYTES: number = Fp.BYTES;
const MAX_SECRET_BYTES = 64;

export interface SharePoint {
  readonly x: number;
  readonly y: Uint8Array;
}

function toNumber(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function toBytes(v: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new SecAggError('malformed', 'reconstructed secret does not fit its length (shares inconsistent)');
  return out;
}

/** One share of `secret` per x in `xs` (distinct, 1 ≤ x); any `threshold` of them reconstruct it, fewer reveal nothing. */
export function splitSecret(secret: Uint8Array, threshold: number, xs: readonly number[], randomBytes: (n: number) => Uint8Array): Uint8Array[] {
  if (secret.length > MAX_SECRET_BYTES) throw new SecAggError('bad-params', `secret of ${secret.length} bytes exceeds ${MAX_SECRET_BYTES}`);
  if (!(Number.isInteger(threshold) && threshold >= 1 && threshold <= xs.length)) throw new SecAggError('bad-params', `threshold ${threshold} needs 1…${xs.length} holders`);
  const coefficients = [toNumber(secret)];
  for (let i = 1; i < threshold; i++) coefficients.push(Fp.create(toNumber(randomBytes(SHARE_BYTES + 16))));
  return xs.map((x) => {
    const fx = BigInt(x);
    let y = Fp.ZERO;
    for (let i = coefficients.length - 1; i >= 0; i--) y = Fp.add(Fp.mul(y, fx), coefficients[i]);
    return Fp.toBytes(y);
  });
}

/** The secret (of `secretBytes` bytes) from the first `threshold` of `points` (distinct x). */
export function reconstructSecret(points: readonly SharePoint[], threshold: number, secretBytes: number): Uint8Array {
  if (points.length < threshold) throw new SecAggError('too-many-dropped', `${points.length} shares, ${threshold} needed`);
  const used = points.slice(0, threshold);
  if (new Set(used.map((p) => p.x)).size !== used.length) throw new SecAggError('malformed', 'two shares with the same x-coordinate');
  let secret = Fp.ZERO;
  for (let j = 0; j < used.length; j++) {
    if (used[j].y.length !== SHARE_BYTES) throw new SecAggError('malformed', `a share must be ${SHARE_BYTES} bytes`);
    const xj = BigInt(used[j].x);
    let num = Fp.ONE;
    let den = Fp.ONE;
    for (let m = 0; m < used.length; m++) {
      if (m === j) continue;
      const xm = BigInt(used[m].x);
      num = Fp.mul(num, xm);
      den = Fp.mul(den, Fp.sub(xm, xj));
    }
    const yj = Fp.create(toNumber(used[j].y));
    secret = Fp.add(secret, Fp.mul(yj, Fp.div(num, den)));
  }
  return toBytes(secret, secretBytes);
}
