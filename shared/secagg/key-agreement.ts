/**
 * Key agreement of secure aggregation (Bonawitz et al. 2017, §3 and Fig. 4): X25519
 * (RFC 7748, @noble/curves) Diffie–Hellman, its output run through HKDF-SHA256
 * (RFC 5869, @noble/hashes) with the protocol and round context as salt and the purpose
 * and the (sorted) pair of ids as info, so one pair's secret yields independent keys for
 * share encryption and for its pairwise mask, bound to this round and this pair only.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { SecAggError } from './secagg-error.ts';
import { compareIds, SECAGG_PROTOCOL, type SecAggParams } from './secagg-params.ts';

export interface KeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** 'share-encryption': the XChaCha20-Poly1305 key of the pair's shares (from the c keys); 'pairwise-mask': the ChaCha20 seed of their mask (from the s keys). */
export type KeyPurpose = 'share-encryption' | 'pairwise-mask';

export function generateKeyPair(secretKey: Uint8Array): KeyPair {
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

/** The 32-byte key for `purpose` between `a` and `b` (symmetric in a, b). */
export function agreeKey(params: SecAggParams, purpose: KeyPurpose, mySecretKey: Uint8Array, theirPublicKey: Uint8Array, a: string, b: string): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(mySecretKey, theirPublicKey);
  } catch {
    throw new SecAggError('malformed', `the public key of ${a === b ? a : `${a}/${b}`} is not a valid X25519 key`);
  }
  const [lo, hi] = compareIds(a, b) <= 0 ? [a, b] : [b, a];
  const salt = sha256(utf8ToBytes(`${SECAGG_PROTOCOL}|${params.context}`));
  return hkdf(sha256, shared, salt, utf8ToBytes(`${purpose}|${lo}|${hi}`), 32);
}
