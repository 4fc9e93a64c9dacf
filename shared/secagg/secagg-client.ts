/**
 * One participant's side of a secure-aggregation round (Bonawitz et al. 2017, "Practical
 * Secure Aggregation for Privacy-Preserving Machine Learning", Fig. 4 rounds 0–3, the
 * semi-honest variant without the signature round; SecAgg+ neighbourhoods, Bell et al.
 * 2020). Message-driven: each method takes what the server forwarded and returns what to
 * send back, so the browser, the Node fleet and the in-process runner drive it the same
 * way. Steps run in order, once each (unmask may be repeated with a consistent request);
 * a refused step (SecAggError) changes nothing.
 *
 * Consistency checks (README.md, "What a malicious coordinator can and cannot do"):
 * - never reveals both the self-mask share and the key share of one peer, within one
 *   request or across requests ('both-shares-requested');
 * - the survivor and dropped sets must not overlap, must contain me as a survivor, and
 *   must cover exactly the neighbours whose shares I received ('inconsistent-sets');
 * - at least t neighbours must have advertised keys, sent me shares, and survived
 *   ('below-threshold');
 * - every share ciphertext must authenticate for (context, sender, me) ('tampered-share').
 */
import { secureUniform, type UniformSource } from '../random/secure-random.ts';
import { encodeFixedPoint, reduceToRing } from './fixed-point-ring.ts';
import { agreeKey, generateKeyPair, type KeyPair } from './key-agreement.ts';
import { addMask } from './mask-stream.ts';
import { neighboursOf } from './neighbour-graph.ts';
import { parseSecAggMessage } from './parse-secagg-message.ts';
import { wordsToBytes } from './ring-word-codec.ts';
import { SecAggError } from './secagg-error.ts';
import {
  EncryptedSharesSchema,
  KeyAdvertisementSchema,
  MaskedInputSchema,
  NeighbourKeysSchema,
  SharesForMeSchema,
  UnmaskRequestSchema,
  UnmaskResponseSchema,
  type EncryptedShares,
  type KeyAdvertisement,
  type MaskedInput,
  type NeighbourKeys,
  type RevealedShare,
  type SharesForMe,
  type UnmaskRequest,
  type UnmaskResponse,
} from './secagg-messages.ts';
import { checkSecAggParams, compareIds, type SecAggParams } from './secagg-params.ts';
import { decryptShareBundle, encryptShareBundle, SHARE_NONCE_BYTES, type ShareBundle } from './share-cipher.ts';
import { splitSecret } from './shamir.ts';

export interface SecAggClientOptions {
  /** Randomness for stochastic rounding (default: the platform CSPRNG). */
  readonly rounding?: UniformSource;
  /** Random bytes for keys, nonces, polynomial coefficients and the self-mask seed (default: crypto.getRandomValues). */
  readonly randomBytes?: (n: number) => Uint8Array;
}

type ClientPhase = 'advertise' | 'share' | 'mask' | 'unmask';

const SECRET_BYTES = 32;

export function platformRandomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) globalThis.crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

export class SecAggClient {
  readonly params: SecAggParams;
  readonly id: string;
  private readonly neighbours: ReadonlySet<string>;
  private readonly randomBytes: (n: number) => Uint8Array;
  private readonly rounding: UniformSource;
  private phase: ClientPhase = 'advertise';
  private cKeys?: KeyPair;
  private sKeys?: KeyPair;
  private selfMaskSeed?: Uint8Array;
  /** Neighbours that advertised keys (U1 ∩ N(me)). */
  private advertised = new Map<string, KeyAdvertisement>();
  private readonly encryptionKeys = new Map<string, Uint8Array>();
  /** Shares I hold, by the neighbour they belong to (U2 ∩ N(me)). */
  private held = new Map<string, ShareBundle>();
  /** What I have revealed of whom: never both kinds for one peer. */
  private readonly revealed = new Map<string, 'self-mask' | 'key'>();

  constructor(params: SecAggParams, id: string, options: SecAggClientOptions = {}) {
    checkSecAggParams(params);
    if (!params.participants.includes(id)) throw new SecAggError('not-a-participant', `${id} is not a participant of this round`);
    this.params = params;
    this.id = id;
    this.neighbours = new Set(neighboursOf(params, id));
    this.randomBytes = options.randomBytes ?? platformRandomBytes;
    this.rounding = options.rounding ?? secureUniform();
  }

  /** Round 0: fresh c and s key pairs; returns the public halves. */
  advertiseKeys(): KeyAdvertisement {
    this.expect('advertise');
    this.cKeys = generateKeyPair(this.randomBytes(SECRET_BYTES));
    this.sKeys = generateKeyPair(this.randomBytes(SECRET_BYTES));
    this.phase = 'share';
    return KeyAdvertisementSchema.parse({ from: this.id, cPublicKey: this.cKeys.publicKey, sPublicKey: this.sKeys.publicKey });
  }

  /** Round 1: Shamir-shares my s secret key and a fresh self-mask seed t-of-k among the neighbours that advertised, encrypted to each. */
  shareKeys(neighbourKeys: NeighbourKeys): EncryptedShares {
    this.expect('share');
    const { advertisements } = parseSecAggMessage(NeighbourKeysSchema, neighbourKeys, 'neighbour keys');
    const advertised = new Map<string, KeyAdvertisement>();
    const seenKeys = new Set<string>([hex(this.cKeys!.publicKey), hex(this.sKeys!.publicKey)]);
    for (const a of advertisements) {
      if (!this.neighbours.has(a.from)) throw new SecAggError('not-a-participant', `keys of ${a.from}, who is not my neighbour this round`);
      if (advertised.has(a.from)) throw new SecAggError('duplicate', `two advertisements from ${a.from}`);
      for (const k of [hex(a.cPublicKey), hex(a.sPublicKey)]) {
        if (seenKeys.has(k)) throw new SecAggError('malformed', `a public key advertised twice (by ${a.from})`);
        seenKeys.add(k);
      }
      advertised.set(a.from, a);
    }
    this.atLeastThreshold(advertised.size, 'advertised keys');
    const holders = [...advertised.keys()].sort(compareIds);
    const xs = holders.map((v) => this.x(v));
    const selfMaskSeed = this.randomBytes(SECRET_BYTES);
    const keyShares = splitSecret(this.sKeys!.secretKey, this.params.threshold, xs, this.randomBytes);
    const selfMaskShares = splitSecret(selfMaskSeed, this.params.threshold, xs, this.randomBytes);
    const encryptionKeys = new Map<string, Uint8Array>();
    const shares = holders.map((v, i) => {
      const key = agreeKey(this.params, 'share-encryption', this.cKeys!.secretKey, advertised.get(v)!.cPublicKey, this.id, v);
      encryptionKeys.set(v, key);
      const ciphertext = encryptShareBundle(this.params, key, this.id, v, { keyShare: keyShares[i], selfMaskShare: selfMaskShares[i] }, this.randomBytes(SHARE_NONCE_BYTES));
      return { from: this.id, to: v, ciphertext };
    });
    this.advertised = advertised;
    for (const [v, k] of encryptionKeys) this.encryptionKeys.set(v, k);
    this.selfMaskSeed = selfMaskSeed;
    this.phase = 'mask';
    return EncryptedSharesSchema.parse({ from: this.id, shares });
  }

  /** Round 2: checks and keeps the shares addressed to me, encodes `update` (every coordinate in [−C, C]) in the ring and masks it. */
  maskedInput(sharesForMe: SharesForMe, update: Float32Array): MaskedInput {
    this.expect('mask');
    const { shares } = parseSecAggMessage(SharesForMeSchema, sharesForMe, 'shares for me');
    const held = new Map<string, ShareBundle>();
    for (const s of shares) {
      if (s.to !== this.id) throw new SecAggError('not-a-participant', `a share addressed to ${s.to} was forwarded to me (${this.id})`);
      if (!this.advertised.has(s.from)) throw new SecAggError('not-a-participant', `a share from ${s.from}, who did not advertise keys to me as a neighbour`);
      if (held.has(s.from)) throw new SecAggError('duplicate', `two shares from ${s.from}`);
      held.set(s.from, decryptShareBundle(this.params, this.encryptionKeys.get(s.from)!, s.from, this.id, s.ciphertext));
    }
    this.atLeastThreshold(held.size, 'sent me their shares');
    const masked = encodeFixedPoint(update, this.params, this.rounding);
    const scratch = new Uint8Array(masked.length * 4);
    addMask(masked, this.selfMaskSeed!, 1, scratch);
    for (const v of held.keys()) {
      const seed = agreeKey(this.params, 'pairwise-mask', this.sKeys!.secretKey, this.advertised.get(v)!.sPublicKey, this.id, v);
      addMask(masked, seed, compareIds(this.id, v) < 0 ? 1 : -1, scratch);
    }
    reduceToRing(masked, this.params.ringBits);
    this.held = held;
    this.phase = 'unmask';
    return MaskedInputSchema.parse({ from: this.id, masked: wordsToBytes(masked) });
  }

  /** Round 3: after the consistency checks, reveals self-mask shares of surviving neighbours and key shares of dropped ones. */
  unmask(request: UnmaskRequest): UnmaskResponse {
    this.expect('unmask');
    const { survivors, dropped } = parseSecAggMessage(UnmaskRequestSchema, request, 'unmask request');
    const survivorSet = new Set(survivors);
    const droppedSet = new Set(dropped);
    if (survivorSet.size !== survivors.length || droppedSet.size !== dropped.length) throw new SecAggError('inconsistent-sets', 'an id is listed twice');
    for (const v of survivors) {
      if (droppedSet.has(v)) throw new SecAggError('both-shares-requested', `${v} is listed both as a survivor and as dropped: revealing both its self-mask and its key would unmask its input`);
    }
    if (!survivorSet.has(this.id)) throw new SecAggError('inconsistent-sets', `I (${this.id}) sent my masked input but am not listed as a survivor`);
    for (const v of [...survivors, ...dropped]) {
      if (!this.params.participants.includes(v)) throw new SecAggError('not-a-participant', `${v} is not a participant of this round`);
      if (this.neighbours.has(v) && !this.held.has(v)) throw new SecAggError('inconsistent-sets', `${v} is listed, but never sent me its shares`);
    }
    for (const v of this.held.keys()) {
      if (!survivorSet.has(v) && !droppedSet.has(v)) throw new SecAggError('inconsistent-sets', `${v} sent me its shares but is neither a survivor nor dropped`);
      const kind = survivorSet.has(v) ? 'self-mask' : 'key';
      const before = this.revealed.get(v);
      if (before !== undefined && before !== kind) throw new SecAggError('both-shares-requested', `I already revealed ${v}'s ${before} share; its ${kind} share too would unmask its input`);
    }
    let survivingNeighbours = 0;
    for (const v of this.held.keys()) if (survivorSet.has(v)) survivingNeighbours++;
    this.atLeastThreshold(survivingNeighbours, 'survived');
    const selfMaskShares: RevealedShare[] = [];
    const keyShares: RevealedShare[] = [];
    for (const [v, bundle] of [...this.held].sort((a, b) => compareIds(a[0], b[0]))) {
      if (survivorSet.has(v)) {
        selfMaskShares.push({ of: v, share: bundle.selfMaskShare });
        this.revealed.set(v, 'self-mask');
      } else {
        keyShares.push({ of: v, share: bundle.keyShare });
        this.revealed.set(v, 'key');
      }
    }
    return UnmaskResponseSchema.parse({ from: this.id, selfMaskShares, keyShares });
  }

  private expect(phase: ClientPhase): void {
    if (this.phase !== phase) throw new SecAggError('wrong-phase', `expected the ${this.phase} step, got ${phase}`);
  }

  private atLeastThreshold(count: number, what: string): void {
    if (count < this.params.threshold) {
      throw new SecAggError('below-threshold', `only ${count} of my neighbours ${what}; the threshold is ${this.params.threshold}`);
    }
  }

  /** Shamir x-coordinate of a participant: its index in the round + 1. */
  private x(id: string): number {
    return this.params.participants.indexOf(id) + 1;
  }
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}
