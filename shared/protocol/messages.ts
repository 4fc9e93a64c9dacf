import { z } from 'zod';
import type { ModelDescriptor } from '../model/model-registry.ts';
import { SecAggParamsSchema, SECAGG_CLIENT_EVENTS, SECAGG_EVENTS } from './secagg-events.ts';
import { UPDATE_ENCODINGS } from '../update/update-encoding.ts';

/**
 * Every socket event and REST payload of Flock, defined once. Client and coordinator
 * both parse what they receive with these schemas; binary updates and weights travel
 * as raw bytes (shared/update/tensor-codec.ts), never as JSON arrays of numbers.
 */
export const PROTOCOL_VERSION = 3;

export const EVENTS = {
  join: 'join',
  welcome: 'welcome',
  eligibility: 'eligibility',
  roundStart: 'round:start',
  update: 'update',
  updateAck: 'update:ack',
  updateRejected: 'update:rejected',
  modelVersion: 'model:version',
  roundClosed: 'round:closed',
  protocolError: 'protocol:error',
  /** Secure aggregation's phases (secagg-events.ts), only on a coordinator that runs it. */
  ...SECAGG_EVENTS,
} as const;

export const BackendNameSchema = z.enum(['webgpu', 'webgl', 'wasm', 'cpu']);
export type BackendName = z.infer<typeof BackendNameSchema>;

/** Retired item ids (never recommended, never sampled as negatives); absent: none. */
const RetiredItemsSchema = z.array(z.number().int().nonnegative()).max(1_000_000).optional();

/** The MF feature tower's hashed item features (shared/model/item-feature-tower.ts), checked against numItems below. */
export const ItemFeatureTableSchema = z.object({
  buckets: z.number().int().min(1).max(65536),
  offsets: z.array(z.number().int().nonnegative()).max(1_000_001),
  ids: z.array(z.number().int().nonnegative()).max(16_000_000),
});

export const MfModelDescriptorSchema = z.object({
  kind: z.literal('mf'),
  numItems: z.number().int().positive(),
  dim: z.number().int().positive(),
  itemFeatures: ItemFeatureTableSchema.optional(),
  retiredItems: RetiredItemsSchema,
});

export const SasrecModelDescriptorSchema = z.object({
  kind: z.literal('sasrec'),
  numItems: z.number().int().positive(),
  dim: z.number().int().positive().max(4096),
  maxLen: z.number().int().positive().max(4096),
  blocks: z.number().int().positive().max(64),
  heads: z.number().int().positive().max(64),
  dropout: z.number().min(0).lt(1),
  retiredItems: RetiredItemsSchema,
});

export const ModelDescriptorSchema = z
  .discriminatedUnion('kind', [MfModelDescriptorSchema, SasrecModelDescriptorSchema])
  .superRefine((d, ctx) => {
    if (d.kind === 'sasrec' && d.dim % d.heads !== 0) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['heads'], message: `dim ${d.dim} must be divisible by heads ${d.heads}` });
    }
    if (d.retiredItems?.some((i) => i >= d.numItems)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['retiredItems'], message: `retired item ids must be below numItems ${d.numItems}` });
    }
    if (d.kind === 'mf' && d.itemFeatures) {
      const t = d.itemFeatures;
      if (t.offsets.length !== d.numItems + 1 || t.offsets[0] !== 0 || t.offsets[d.numItems] !== t.ids.length || t.ids.some((f) => f >= t.buckets)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['itemFeatures'], message: `item features must have numItems + 1 offsets from 0 to the number of ids, ids below ${t.buckets}` });
      }
    }
  });

type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compile-time check: the schema parses exactly the ModelDescriptor the model registry builds. */
const descriptorSchemaMatches: SameType<z.infer<typeof ModelDescriptorSchema>, ModelDescriptor> = true;
void descriptorSchemaMatches;

export const TrainConfigSchema = z.object({
  localEpochs: z.number().int().min(1).max(100),
  batchSize: z.number().int().min(1).max(4096),
  learningRate: z.number().positive().max(100),
  negatives: z.number().int().min(1).max(100),
  l2: z.number().min(0).max(1),
  accumulationSteps: z.number().int().min(1).max(64).optional(),
});

/** What a round asks of each participant: local training plus the clipping bound. */
export const RoundConfigSchema = TrainConfigSchema.extend({
  clipNorm: z.number().positive(),
  seed: z.number().int().nonnegative(),
  /**
   * The update encodings this round accepts (shared/update/update-encoding.ts): the
   * participant sends the smallest it supports, the coordinator refuses any other.
   * Absent: ['f32'] (older coordinators).
   */
  updateEncodings: z.array(z.enum(UPDATE_ENCODINGS)).min(1).max(UPDATE_ENCODINGS.length).optional(),
});
export type RoundConfig = z.infer<typeof RoundConfigSchema>;

/**
 * A participant id: random, issued by the coordinator inside a signed credential
 * (coordinator/identity/). It is never taken from a message: the coordinator reads it
 * from the credential the socket handshake carried.
 */
export const ParticipantIdSchema = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'participant id: 16–64 of A-Z a-z 0-9 _ -');

/** Longest credential (a compact JWS) a client may present. */
export const MAX_CREDENTIAL_CHARS = 2048;
export const CredentialSchema = z.string().min(1).max(MAX_CREDENTIAL_CHARS).regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'credential: a compact JWS');

/** The socket.io handshake `auth` of every model namespace. */
export const HandshakeAuthSchema = z.object({ token: CredentialSchema }).strict();
export type HandshakeAuth = z.infer<typeof HandshakeAuthSchema>;

/** POST /api/credentials: a new participant asks for an identity (with the invite secret when the operator requires one). */
export const CredentialRequestSchema = z.object({ invite: z.string().min(1).max(256).optional() }).strict();
export type CredentialRequest = z.infer<typeof CredentialRequestSchema>;

export const CredentialResponseSchema = z
  .object({
    token: CredentialSchema,
    participantId: ParticipantIdSchema,
    /** ms since epoch */
    expiresAt: z.number().int().positive(),
  })
  .strict();
export type CredentialResponse = z.infer<typeof CredentialResponseSchema>;

/**
 * Sent once per connection, after the handshake. It says nothing about the person:
 * the protocol, the backend the device trains on and whether it has enough data
 * for this model (see minInteractionsFor in shared/model/model-registry.ts).
 */
export const JoinMessageSchema = z
  .object({
    protocolVersion: z.number().int().min(0).max(1_000_000),
    backend: BackendNameSchema,
    eligible: z.boolean(),
    hasNewData: z.boolean().optional(),
  })
  .strict();
export type JoinMessage = z.infer<typeof JoinMessageSchema>;

export const WelcomeMessageSchema = z.object({
  protocolVersion: z.number().int(),
  participantId: ParticipantIdSchema,
  model: ModelDescriptorSchema,
  version: z.number().int().nonnegative(),
});
export type WelcomeMessage = z.infer<typeof WelcomeMessageSchema>;

/**
 * A participant's standing for this model's next rounds, sent whenever it changes.
 * `eligible`: it has enough data, may train now (page visible or device idle) and its
 * upload budget allows another update. `hasNewData`: it has something the current
 * version has not learnt from it — interactions added since its last accepted update,
 * or a version it has not trained on yet. The coordinator opens rounds only when some
 * eligible participant has new data (coordinator/rounds/round-pacing.ts); absent means
 * true (a client that does not say is not held back).
 */
export const EligibilityMessageSchema = z.object({ eligible: z.boolean(), hasNewData: z.boolean().optional() }).strict();
export type EligibilityMessage = z.infer<typeof EligibilityMessageSchema>;

export const RoundStartMessageSchema = z.object({
  round: z.number().int().positive(),
  version: z.number().int().nonnegative(),
  /** ms since epoch */
  deadline: z.number().int(),
  config: RoundConfigSchema,
  /** Present when the round is securely aggregated: the participant answers with secagg:* events instead of an update. */
  secureAggregation: SecAggParamsSchema.optional(),
});
export type RoundStartMessage = z.infer<typeof RoundStartMessageSchema>;

/** The update event carries one binary argument: an encoded ModelUpdate. */
export const UpdatePayloadSchema = z.union([z.instanceof(Uint8Array), z.instanceof(ArrayBuffer)]);

export const UpdateAckMessageSchema = z.object({ round: z.number().int(), received: z.number().int() });
export type UpdateAckMessage = z.infer<typeof UpdateAckMessageSchema>;

export const RejectionCodeSchema = z.enum([
  'malformed',
  'unsupported-format',
  'wrong-round',
  'late',
  'duplicate',
  'not-selected',
  'wrong-version',
  'wrong-shape',
  'non-finite',
  'over-bound',
  'too-large',
  'protocol-mismatch',
  'unauthorized',
  'rate-limited',
]);
export type RejectionCode = z.infer<typeof RejectionCodeSchema>;
export const UpdateRejectedMessageSchema = z.object({
  round: z.number().int().nullable(),
  code: RejectionCodeSchema,
  message: z.string(),
});
export type UpdateRejectedMessage = z.infer<typeof UpdateRejectedMessageSchema>;

export const ModelVersionMessageSchema = z.object({
  version: z.number().int().nonnegative(),
  round: z.number().int().nonnegative(),
  /**
   * The model's new descriptor when this version changed it (the catalog grew or items
   * were retired, coordinator/catalog/): participants rebuild the model before fetching
   * the version. Absent: the same model as before.
   */
  model: ModelDescriptorSchema.optional(),
});
export type ModelVersionMessage = z.infer<typeof ModelVersionMessageSchema>;

export const RoundOutcomeSchema = z.enum(['aggregated', 'quorum-missed', 'failed']);
export type RoundOutcome = z.infer<typeof RoundOutcomeSchema>;
export const RoundRecordSchema = z.object({
  round: z.number().int(),
  baseVersion: z.number().int(),
  newVersion: z.number().int().nullable(),
  outcome: RoundOutcomeSchema,
  selected: z.number().int(),
  /** Updates that close the round at once (selected includes over-selection beyond it). */
  target: z.number().int().optional(),
  received: z.number().int(),
  rejected: z.number().int(),
  /** Selected participants whose update never arrived (left, silent, or still training at close). */
  dropped: z.number().int().optional(),
  examples: z.number().int(),
  meanPreClipNorm: z.number().nullable(),
  startedAt: z.number(),
  closedAt: z.number(),
  /** What closed it: its target was reached, nobody was left to wait for, stragglers' grace ran out, or the deadline. */
  closedBy: z.enum(['target', 'nobody-left', 'stragglers-dropped', 'deadline']).optional(),
  /** Why an outcome 'failed' round failed (the model is unchanged). */
  error: z.string().max(500).optional(),
});
export type RoundRecord = z.infer<typeof RoundRecordSchema>;
export const RoundClosedMessageSchema = RoundRecordSchema;

/**
 * Why the coordinator refused or ended a connection: 'unauthorized' (no or bad
 * credential: ask for a new one), 'replaced' (the same participant connected again),
 * 'protocol-mismatch' (reload the page), 'rate-limited', 'too-large', 'malformed'.
 */
export const ProtocolErrorMessageSchema = z.object({ code: z.string().max(64), message: z.string().max(1000) });
export type ProtocolErrorMessage = z.infer<typeof ProtocolErrorMessageSchema>;

/**
 * The events a participant may send, with the largest payload each may have (bytes
 * of its JSON, or of the binary update). Anything else on a model namespace is refused.
 */
export const CLIENT_EVENTS = [EVENTS.join, EVENTS.eligibility, EVENTS.update, ...SECAGG_CLIENT_EVENTS] as const;
export type ClientEvent = (typeof CLIENT_EVENTS)[number];
export const MAX_CONTROL_MESSAGE_BYTES = 1024;

// ---- REST ----

/** Where one served model stands: its global version, last round and connected participants. */
export const ModelHealthSchema = z.object({
  version: z.number().int(),
  round: z.number().int(),
  clients: z.number().int(),
});
export type ModelHealth = z.infer<typeof ModelHealthSchema>;

export const HealthResponseSchema = z.object({
  ok: z.literal(true),
  uptimeSeconds: z.number(),
  /** One entry per model the coordinator federates, by kind. */
  models: z.record(z.string(), ModelHealthSchema),
});
export type HealthResponse = z.infer<typeof HealthResponseSchema>;

/**
 * A model's differential-privacy guarantee as the coordinator states it (null when DP is
 * off): the models it published so far are (epsilon, delta)-DP at the level of one
 * participant (shared/privacy/README.md).
 */
export const ModelPrivacySchema = z.object({
  mechanism: z.literal('dp-fedavg'),
  /** Spent so far, at `delta`, over every released round (0 before the first). */
  epsilon: z.number().nonnegative(),
  delta: z.number().positive().lt(1),
  /** The spent ε never exceeds it: no round opens that would. */
  epsilonBudget: z.number().positive(),
  /** Released (charged) rounds, and the round budget. */
  rounds: z.number().int().nonnegative(),
  roundBudget: z.number().int().positive(),
  noiseMultiplier: z.number().positive(),
  /** q: each eligible participant is in a round with this probability (Poisson sampling). */
  samplingRate: z.number().positive().max(1),
  /** The population the plan was sized for; the fixed denominator is samplingRate × population. */
  population: z.number().int().positive(),
  /** The clip bound of the next round (moves with adaptive clipping). */
  clipNorm: z.number().positive(),
  adaptiveClipping: z.boolean(),
  /** True once no further round fits the budget: the coordinator serves the last model and trains no more. */
  exhausted: z.boolean(),
  /** The latest version, which this ε covers (and every version before it). */
  version: z.number().int().nonnegative(),
});
export type ModelPrivacy = z.infer<typeof ModelPrivacySchema>;

export const ModelInfoResponseSchema = z.object({
  protocolVersion: z.number().int(),
  version: z.number().int(),
  model: ModelDescriptorSchema,
  params: z.array(z.object({ name: z.string(), shape: z.array(z.number().int()), scope: z.enum(['global', 'local']) })),
  round: RoundConfigSchema,
  privacy: ModelPrivacySchema.nullable(),
});
export type ModelInfoResponse = z.infer<typeof ModelInfoResponseSchema>;

/** Every model the coordinator federates, in the order it was configured. */
export const ModelsResponseSchema = z.object({
  protocolVersion: z.number().int(),
  models: z.array(ModelInfoResponseSchema).min(1),
});
export type ModelsResponse = z.infer<typeof ModelsResponseSchema>;

export const CatalogResponseSchema = z.object({
  name: z.string(),
  titles: z.array(z.string()),
  /** Bumped by every change an operator makes (items added or retired); absent from older coordinators. */
  version: z.number().int().nonnegative().optional(),
  /** Feature names per item (genres, tags: what the MF feature tower reads); absent from older coordinators. */
  features: z.array(z.array(z.string())).optional(),
  /** Retired item ids: listed in titles, never recommended. */
  retired: z.array(z.number().int().nonnegative()).optional(),
  /**
   * The catalog's own public popularity order, most popular first (at most 100 item ids):
   * counts over the catalog's source data, never over participants' interactions. What the
   * web app shows before the shared model has learned anything. Absent from older coordinators.
   */
  popular: z.array(z.number().int().nonnegative()).optional(),
});
export type CatalogResponse = z.infer<typeof CatalogResponseSchema>;

export const RoundsResponseSchema = z.object({ rounds: z.array(RoundRecordSchema) });
