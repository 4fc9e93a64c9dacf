/**
 * Every message of a secure-aggregation round (Bonawitz et al. 2017, §4 rounds 0–3;
 * SecAgg+ neighbourhoods, Bell et al. 2020), defined once with zod. The wire layer maps
 * each to one socket event; byte fields are Uint8Array (socket.io binary frames; an
 * ArrayBuffer as a browser receives it is accepted and viewed as bytes). `from` is
 * informational on the wire: the coordinator overwrites it with the id of the socket's
 * credential before handing a message to SecAggServer.
 *
 *   client → server   KeyAdvertisement        round 0  (advertiseKeys)
 *   server → client   NeighbourKeys           the advertisements of my neighbours
 *   client → server   EncryptedShares         round 1  (shareKeys)
 *   server → client   SharesForMe             ciphertexts addressed to me
 *   client → server   MaskedInput             round 2  (maskedInput)
 *   server → client   UnmaskRequest           survivors and dropped
 *   client → server   UnmaskResponse          round 3  (unmask)
 */
import { z } from 'zod';

export const X25519_KEY_BYTES = 32;

const BytesSchema = z.preprocess(
  (v) => (v instanceof ArrayBuffer ? new Uint8Array(v) : v),
  z.instanceof(Uint8Array),
) as unknown as z.ZodType<Uint8Array, z.ZodTypeDef, Uint8Array | ArrayBuffer>;

const bytesOfLength = (n: number) => BytesSchema.refine((b) => b.length === n, `must be ${n} bytes`);
/** A participant id as SecAggParams lists it (the credential's id). */
const IdSchema = z.string().min(1).max(64);
const MAX_LIST = 1 << 16;

/** Round 0, client → server: two fresh X25519 public keys for this round. */
export const KeyAdvertisementSchema = z.object({
  from: IdSchema,
  /** For the key that encrypts shares sent to me (c in the paper). */
  cPublicKey: bytesOfLength(X25519_KEY_BYTES),
  /** For the pairwise mask seeds (s in the paper). */
  sPublicKey: bytesOfLength(X25519_KEY_BYTES),
});
export type KeyAdvertisement = z.infer<typeof KeyAdvertisementSchema>;

/** Server → client after round 0: the advertisements of the recipient's neighbours that arrived in time. */
export const NeighbourKeysSchema = z.object({
  advertisements: z.array(KeyAdvertisementSchema).max(MAX_LIST),
});
export type NeighbourKeys = z.infer<typeof NeighbourKeysSchema>;

/** One Shamir share bundle (my share of `from`'s s key and of `from`'s self-mask seed), AEAD-encrypted for `to`. */
export const EncryptedShareSchema = z.object({
  from: IdSchema,
  to: IdSchema,
  /** 24-byte XChaCha20 nonce ‖ XChaCha20-Poly1305 ciphertext; the AAD binds protocol, context, from and to. */
  ciphertext: BytesSchema,
});
export type EncryptedShare = z.infer<typeof EncryptedShareSchema>;

/** Round 1, client → server: one encrypted share per neighbour that advertised keys. */
export const EncryptedSharesSchema = z.object({
  from: IdSchema,
  shares: z.array(EncryptedShareSchema).max(MAX_LIST),
});
export type EncryptedShares = z.infer<typeof EncryptedSharesSchema>;

/** Server → client after round 1: the encrypted shares addressed to the recipient, from neighbours that sent theirs in time. */
export const SharesForMeSchema = z.object({
  shares: z.array(EncryptedShareSchema).max(MAX_LIST),
});
export type SharesForMe = z.infer<typeof SharesForMeSchema>;

/** Round 2, client → server: the masked fixed-point update, vectorLength 32-bit little-endian words. */
export const MaskedInputSchema = z.object({
  from: IdSchema,
  masked: BytesSchema,
});
export type MaskedInput = z.infer<typeof MaskedInputSchema>;

/**
 * Server → client after round 2: who sent a masked input in time (survivors) and who
 * sent shares but no masked input (dropped). The same request goes to every survivor.
 */
export const UnmaskRequestSchema = z.object({
  survivors: z.array(IdSchema).max(MAX_LIST),
  dropped: z.array(IdSchema).max(MAX_LIST),
});
export type UnmaskRequest = z.infer<typeof UnmaskRequestSchema>;

/** A decrypted Shamir share the client reveals: the y-value of `of`'s polynomial at the sender's x. */
export const RevealedShareSchema = z.object({
  of: IdSchema,
  share: BytesSchema,
});
export type RevealedShare = z.infer<typeof RevealedShareSchema>;

/** Round 3, client → server: self-mask shares of surviving neighbours, key shares of dropped ones. */
export const UnmaskResponseSchema = z.object({
  from: IdSchema,
  selfMaskShares: z.array(RevealedShareSchema).max(MAX_LIST),
  keyShares: z.array(RevealedShareSchema).max(MAX_LIST),
});
export type UnmaskResponse = z.infer<typeof UnmaskResponseSchema>;

/** Bytes a message occupies on the wire, counted as socket.io sends it: byte fields raw, the rest as JSON. */
export function messageBytes(message: unknown): number {
  let binary = 0;
  const json = JSON.stringify(message, (_k, v) => {
    if (v instanceof Uint8Array) {
      binary += v.length;
      return 0; // socket.io sends a placeholder ({"_placeholder":true,"num":i}) of about this size plus the raw frame
    }
    // a Node Buffer has been through its toJSON() before the replacer sees it
    if (v !== null && typeof v === 'object' && v.type === 'Buffer' && Array.isArray(v.data)) {
      binary += v.data.length;
      return 0;
    }
    return v;
  });
  return binary + (json?.length ?? 0);
}
