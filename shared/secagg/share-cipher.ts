/**
 * Encrypted, authenticated share bundles (Bonawitz et al. 2017, Fig. 4 round 1: shares
 * travel through the server encrypted under the pair's agreed key). XChaCha20-Poly1305
 * (@noble/ciphers) with a random 24-byte nonce; the associated data binds the protocol,
 * the round context, the sender and the receiver, so a ciphertext the server alters,
 * forges, re-addresses, swaps between senders or replays from another round fails to
 * decrypt (SecAggError 'tampered-share').
 *
 * Plaintext: my share of the sender's s secret key ‖ my share of its self-mask seed.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { SecAggError } from './secagg-error.ts';
import { SECAGG_PROTOCOL, type SecAggParams } from './secagg-params.ts';
import { SHARE_BYTES } from './shamir.ts';

const NONCE_BYTES = 24;

export interface ShareBundle {
  /** The receiver's share of the sender's s secret key (its pairwise-mask key). */
  readonly keyShare: Uint8Array;
  /** The receiver's share of the sender's self-mask seed b. */
  readonly selfMaskShare: Uint8Array;
}

function aad(params: SecAggParams, from: string, to: string): Uint8Array {
  return utf8ToBytes(`${SECAGG_PROTOCOL}|${params.context}|shares|${from}|${to}`);
}

export function encryptShareBundle(params: SecAggParams, key: Uint8Array, from: string, to: string, bundle: ShareBundle, nonce: Uint8Array): Uint8Array {
  const plain = new Uint8Array(2 * SHARE_BYTES);
  plain.set(bundle.keyShare, 0);
  plain.set(bundle.selfMaskShare, SHARE_BYTES);
  const sealed = xchacha20poly1305(key, nonce, aad(params, from, to)).encrypt(plain);
  const out = new Uint8Array(NONCE_BYTES + sealed.length);
  out.set(nonce, 0);
  out.set(sealed, NONCE_BYTES);
  return out;
}

export const SHARE_NONCE_BYTES = NONCE_BYTES;

export function decryptShareBundle(params: SecAggParams, key: Uint8Array, from: string, to: string, ciphertext: Uint8Array): ShareBundle {
  let plain: Uint8Array;
  try {
    if (ciphertext.length < NONCE_BYTES + 16) throw new Error('short');
    plain = xchacha20poly1305(key, ciphertext.subarray(0, NONCE_BYTES), aad(params, from, to)).decrypt(ciphertext.subarray(NONCE_BYTES));
  } catch {
    throw new SecAggError('tampered-share', `the encrypted share from ${from} to ${to} does not authenticate (altered, forged, re-addressed or from another round)`);
  }
  if (plain.length !== 2 * SHARE_BYTES) throw new SecAggError('tampered-share', `the share bundle from ${from} has ${plain.length} bytes, expected ${2 * SHARE_BYTES}`);
  return { keyShare: plain.slice(0, SHARE_BYTES), selfMaskShare: plain.slice(SHARE_BYTES) };
}
