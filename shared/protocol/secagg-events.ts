/**
 * Secure aggregation on the socket (Bonawitz et al. 2017, rounds 0–3; SecAgg+ graph, Bell
 * et al. 2020): each message of shared/secagg/secagg-messages.ts travels as one event,
 * wrapped with the round it belongs to so a stale one is refused instead of being taken
 * for the current round's. Client → coordinator wrappers are strict (unknown fields are
 * refused). On the socket each message is packed by secagg-wire-codec.ts: its JSON, and
 * all its byte fields in ONE binary attachment (socket.io refuses more than 10); the
 * schemas below validate the unpacked message.
 *
 *   coordinator → participant  round:start { …, secureAggregation: SecAggParams }
 *   participant → coordinator  secagg:keys           { round, …KeyAdvertisement }
 *   coordinator → participant  secagg:neighbour-keys { round, …NeighbourKeys }
 *   participant → coordinator  secagg:shares         { round, …EncryptedShares }
 *   coordinator → participant  secagg:shares-for-me  { round, …SharesForMe }
 *   participant → coordinator  secagg:masked-input   { round, …MaskedInput }
 *   coordinator → participant  secagg:unmask-request { round, …UnmaskRequest }
 *   participant → coordinator  secagg:unmask         { round, …UnmaskResponse }
 *   coordinator → participant  secagg:rejected       { round, code, reason, message }
 *
 * `from` is informational: the coordinator replaces it (and every share's `from`) with
 * the id of the socket's credential. messages.ts spreads SECAGG_EVENTS into EVENTS.
 */
import { z } from 'zod';
import type { SecAggParams } from '../secagg/secagg-params.ts';
import {
  EncryptedSharesSchema,
  KeyAdvertisementSchema,
  MaskedInputSchema,
  NeighbourKeysSchema,
  SharesForMeSchema,
  UnmaskRequestSchema,
  UnmaskResponseSchema,
} from '../secagg/secagg-messages.ts';
import type { SecAggRefusal } from '../secagg/secagg-error.ts';

export const SECAGG_EVENTS = {
  secaggKeys: 'secagg:keys',
  secaggNeighbourKeys: 'secagg:neighbour-keys',
  secaggShares: 'secagg:shares',
  secaggSharesForMe: 'secagg:shares-for-me',
  secaggMaskedInput: 'secagg:masked-input',
  secaggUnmaskRequest: 'secagg:unmask-request',
  secaggUnmask: 'secagg:unmask',
  secaggRejected: 'secagg:rejected',
} as const;

/** The secure-aggregation events a participant sends. */
export const SECAGG_CLIENT_EVENTS = [SECAGG_EVENTS.secaggKeys, SECAGG_EVENTS.secaggShares, SECAGG_EVENTS.secaggMaskedInput, SECAGG_EVENTS.secaggUnmask] as const;

const RoundSchema = z.number().int().positive();
const IdSchema = z.string().min(1).max(64);

/** The round's secure-aggregation parameters, as announced (checkSecAggParams checks their meaning). */
export const SecAggParamsSchema = z
  .object({
    context: z.string().min(1).max(256),
    participants: z.array(IdSchema).min(2).max(1 << 16),
    neighbours: z.number().int().positive(),
    threshold: z.number().int().positive(),
    vectorLength: z.number().int().positive(),
    ringBits: z.number().int().min(8).max(32),
    clipBound: z.number().positive(),
    maxSummands: z.number().int().positive(),
    scale: z.number().positive(),
  })
  .strict();
type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compile-time check: the schema parses exactly shared/secagg's SecAggParams. */
const paramsSchemaMatches: SameType<z.infer<typeof SecAggParamsSchema>, Omit<SecAggParams, 'participants'> & { participants: string[] }> = true;
void paramsSchemaMatches;

export const SecAggKeysWireSchema = KeyAdvertisementSchema.extend({ round: RoundSchema }).strict();
export const SecAggNeighbourKeysWireSchema = NeighbourKeysSchema.extend({ round: RoundSchema });
export const SecAggSharesWireSchema = EncryptedSharesSchema.extend({ round: RoundSchema }).strict();
export const SecAggSharesForMeWireSchema = SharesForMeSchema.extend({ round: RoundSchema });
export const SecAggMaskedInputWireSchema = MaskedInputSchema.extend({ round: RoundSchema }).strict();
export const SecAggUnmaskRequestWireSchema = UnmaskRequestSchema.extend({ round: RoundSchema });
export const SecAggUnmaskWireSchema = UnmaskResponseSchema.extend({ round: RoundSchema }).strict();

/** Why the coordinator refused a secure-aggregation message (it changed nothing). */
export const SecAggRejectedMessageSchema = z.object({
  round: z.number().int().nullable(),
  /** Flock's error code (FlockErrorCode), e.g. 'duplicate', 'late', 'not-selected', 'malformed'. */
  code: z.string().max(64),
  /** shared/secagg's SecAggRefusal when the protocol refused it; else the wire layer's reason. */
  reason: z.string().max(64),
  message: z.string().max(1000),
});
export type SecAggRejectedMessage = z.infer<typeof SecAggRejectedMessageSchema> & { reason: SecAggRefusal | 'wire' };

/** The key and control messages are small; the masked input is one 32-bit word per coordinate. */
export const MAX_SECAGG_CONTROL_BYTES = 1024;
/** Shares and unmask responses grow with the neighbourhood k (O(log n) under SecAgg+; n − 1 for a complete graph). */
export const MAX_SECAGG_SHARES_BYTES = 512 * 1024;

/**
 * Per-event size limits of the client → coordinator secure-aggregation events
 * (socket-guard). `maskedInputBytes`: the model's largest update (maxEncodedUpdateBytes),
 * which bounds its masked input (4 bytes per coordinate of the dense GLOBAL vector, less
 * than a dense float32 update with its header).
 */
export function secAggEventLimits(maskedInputBytes: number): Record<(typeof SECAGG_CLIENT_EVENTS)[number], number> {
  return {
    [SECAGG_EVENTS.secaggKeys]: MAX_SECAGG_CONTROL_BYTES,
    [SECAGG_EVENTS.secaggShares]: MAX_SECAGG_SHARES_BYTES,
    [SECAGG_EVENTS.secaggMaskedInput]: maskedInputBytes + MAX_SECAGG_CONTROL_BYTES,
    [SECAGG_EVENTS.secaggUnmask]: MAX_SECAGG_SHARES_BYTES,
  };
}
