/**
 * Masks as pseudorandom vectors in Z_{2^32}: PRG(seed) is the ChaCha20 keystream (RFC 8439,
 * @noble/ciphers) under the 32-byte seed with an all-zero nonce, read as little-endian
 * 32-bit words (Bonawitz et al. 2017, §3: pairwise masks PRG(s_{u,v}) and the self-mask
 * PRG(b_u)). Each seed is used for exactly one stream: pairwise seeds come fresh out of
 * HKDF per round and pair (key-agreement.ts), self-mask seeds are fresh random bytes.
 */
import { chacha20 } from '@noble/ciphers/chacha.js';
import { swap32IfBE } from '@noble/hashes/utils.js';

const ZERO_NONCE = new Uint8Array(12);

/** acc ← acc + sign · PRG(seed) (mod 2^32); `scratch`, if given, must hold 4 · acc.length bytes and is overwritten. */
export function addMask(acc: Uint32Array, seed: Uint8Array, sign: 1 | -1, scratch?: Uint8Array): void {
  const bytes = scratch && scratch.length === acc.length * 4 ? scratch.fill(0) : new Uint8Array(acc.length * 4);
  chacha20(seed, ZERO_NONCE, bytes, bytes);
  const m = swap32IfBE(new Uint32Array(bytes.buffer, bytes.byteOffset, acc.length));
  if (sign === 1) for (let i = 0; i < acc.length; i++) acc[i] += m[i];
  else for (let i = 0; i < acc.length; i++) acc[i] -= m[i];
}
