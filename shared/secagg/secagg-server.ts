/**
 * The coordinator's side of a secure-aggregation round (Bonawitz et al. 2017, "Practical
 * Secure Aggregation for Privacy-Preserving Machine Learning", Fig. 4; SecAgg+
 * neighbourhoods, Bell et al. 2020). It never sees an update: it routes keys and
 * encrypted shares between neighbours, sums masked inputs in the ring as they arrive
 * (O(vectorLength) memory), and at the end reconstructs the dropped participants' s keys
 * (to cancel their pairwise masks with survivors) and the survivors' self-mask seeds from
 * the shares survivors reveal.
 *
 * Each phase: receive…() per message (a bad one is refused with SecAggError and changes
 * nothing), then close…() at the phase's deadline (or once `pending` is empty), which
 * fixes who is still in and returns what to send to whom. A close…() or finish() that
 * finds too few left throws SecAggError('too-many-dropped') and changes nothing: the
 * coordinator abandons the round and learns nothing about any input.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { decodeFixedPointSum, reduceToRing } from './fixed-point-ring.ts';
import { agreeKey } from './key-agreement.ts';
import { addMask } from './mask-stream.ts';
import { neighbourGraph, type NeighbourGraph } from './neighbour-graph.ts';
import { parseSecAggMessage } from './parse-secagg-message.ts';
import { addWordsOf } from './ring-word-codec.ts';
import { SecAggError } from './secagg-error.ts';
import {
  EncryptedSharesSchema,
  KeyAdvertisementSchema,
  MaskedInputSchema,
  UnmaskResponseSchema,
  type EncryptedShare,
  type EncryptedShares,
  type KeyAdvertisement,
  type MaskedInput,
  type NeighbourKeys,
  type SharesForMe,
  type UnmaskRequest,
  type UnmaskResponse,
} from './secagg-messages.ts';
import { checkSecAggParams, compareIds, type SecAggParams } from './secagg-params.ts';
import { reconstructSecret, SHARE_BYTES, type SharePoint } from './shamir.ts';

export type SecAggServerPhase = 'keys' | 'shares' | 'masked-inputs' | 'unmasking' | 'done';

export interface SecAggSum {
  /** The exact decoded sum of the survivors' fixed-point encodings. */
  readonly sum: Float64Array;
  /** Number of updates in the sum (the survivors of round 2). */
  readonly summands: number;
  /** Their ids, sorted. */
  readonly contributors: readonly string[];
}

const PHASES: readonly SecAggServerPhase[] = ['keys', 'shares', 'masked-inputs', 'unmasking', 'done'];
const SECRET_BYTES = 32;

export class SecAggServer {
  readonly params: SecAggParams;
  private readonly graph: NeighbourGraph;
  private readonly xOf = new Map<string, number>();
  private current: SecAggServerPhase = 'keys';
  /** Who the current phase waits for. */
  private expected: ReadonlySet<string>;
  private readonly keys = new Map<string, KeyAdvertisement>();
  private readonly shares = new Map<string, readonly EncryptedShare[]>();
  /** For each participant that sent shares: who holds them (U1 neighbours it encrypted to, which themselves sent shares). */
  private readonly holders = new Map<string, Set<string>>();
  private readonly maskedSum: Uint32Array;
  private readonly maskedFrom = new Set<string>();
  private request?: { survivors: Set<string>; dropped: Set<string> };
  private readonly responses = new Map<string, UnmaskResponse>();
  private readonly minSummands: number;

  constructor(params: SecAggParams) {
    checkSecAggParams(params);
    this.params = params;
    this.graph = neighbourGraph(params);
    params.participants.forEach((id, i) => this.xOf.set(id, i + 1));
    this.expected = new Set(params.participants);
    this.maskedSum = new Uint32Array(params.vectorLength);
    this.minSummands = Math.max(2, params.threshold);
  }

  get phase(): SecAggServerPhase {
    return this.current;
  }

  /** Ids the current phase still waits for: close it early when this is empty. */
  get pending(): string[] {
    const got =
      this.current === 'keys' ? this.keys : this.current === 'shares' ? this.shares : this.current === 'masked-inputs' ? this.maskedFrom : this.responses;
    return [...this.expected].filter((id) => !got.has(id)).sort(compareIds);
  }

  receiveKeys(message: KeyAdvertisement): void {
    const m = parseSecAggMessage(KeyAdvertisementSchema, message, 'key advertisement');
    this.admit('keys', m.from, this.keys);
    this.keys.set(m.from, m);
  }

  /** Ends round 0; returns, per participant that advertised, the advertisements of its neighbours. */
  closeKeys(): Map<string, NeighbourKeys> {
    this.expectPhase('keys');
    const out = new Map<string, NeighbourKeys>();
    for (const u of this.keys.keys()) {
      const advertisements = this.neighboursIn(u, this.keys).map((v) => this.keys.get(v)!);
      if (advertisements.length >= this.params.threshold) out.set(u, { advertisements });
    }
    this.enough(out.size, 'advertised keys with enough neighbours');
    this.advance(new Set(out.keys()));
    return out;
  }

  receiveShares(message: EncryptedShares): void {
    const m = parseSecAggMessage(EncryptedSharesSchema, message, 'encrypted shares');
    this.admit('shares', m.from, this.shares);
    const allowed = new Set(this.neighboursIn(m.from, this.keys));
    const to = new Set<string>();
    for (const s of m.shares) {
      if (s.from !== m.from) throw new SecAggError('malformed', `a share inside ${m.from}'s message claims to be from ${s.from}`);
      if (!allowed.has(s.to)) throw new SecAggError('not-a-participant', `${m.from} sent a share to ${s.to}, not one of its neighbours that advertised keys`);
      if (to.has(s.to)) throw new SecAggError('duplicate', `${m.from} sent two shares to ${s.to}`);
      to.add(s.to);
    }
    if (to.size < this.params.threshold) throw new SecAggError('below-threshold', `${m.from} sent ${to.size} shares; the threshold is ${this.params.threshold}`);
    this.shares.set(m.from, m.shares);
  }

  /** Ends round 1; returns, per participant that sent shares, the ciphertexts addressed to it. */
  closeShares(): Map<string, SharesForMe> {
    this.expectPhase('shares');
    const inbox = new Map<string, EncryptedShare[]>();
    for (const u of this.shares.keys()) inbox.set(u, []);
    const holders = new Map<string, Set<string>>();
    for (const [u, list] of this.shares) {
      const h = new Set<string>();
      for (const s of list) {
        const box = inbox.get(s.to);
        if (box) {
          box.push(s);
          h.add(s.to);
        }
      }
      holders.set(u, h);
    }
    this.enough(inbox.size, 'sent their shares');
    for (const [u, h] of holders) this.holders.set(u, h);
    this.advance(new Set(inbox.keys()));
    const out = new Map<string, SharesForMe>();
    for (const [v, shares] of inbox) out.set(v, { shares });
    return out;
  }

  receiveMaskedInput(message: MaskedInput): void {
    const m = parseSecAggMessage(MaskedInputSchema, message, 'masked input');
    this.admit('masked-inputs', m.from, this.maskedFrom);
    addWordsOf(m.masked, this.maskedSum); // the length check comes first: a refused input adds nothing
    this.maskedFrom.add(m.from);
  }

  /** Ends round 2; returns the one request every survivor gets (`survivors` are its recipients). */
  closeMaskedInputs(): UnmaskRequest {
    this.expectPhase('masked-inputs');
    const survivors = new Set(this.maskedFrom);
    const dropped = new Set([...this.shares.keys()].filter((u) => !survivors.has(u)));
    this.enough(survivors.size, 'sent their masked input');
    for (const u of this.shares.keys()) {
      const alive = [...this.holders.get(u)!].filter((h) => survivors.has(h)).length;
      if (alive < this.params.threshold) {
        throw new SecAggError('too-many-dropped', `only ${alive} of the holders of ${u}'s shares are left (threshold ${this.params.threshold}): its ${survivors.has(u) ? 'self-mask' : 'pairwise masks'} could not be removed`);
      }
    }
    this.request = { survivors, dropped };
    this.advance(survivors);
    return { survivors: [...survivors].sort(compareIds), dropped: [...dropped].sort(compareIds) };
  }

  /**
   * The unmask request for one survivor restricted to what it can check — itself and its
   * neighbours — so it costs O(k) bytes instead of O(n) (SecAgg+). The client's answer is
   * the same as to the full request closeMaskedInputs returned.
   */
  unmaskRequestFor(id: string): UnmaskRequest {
    if (this.current !== 'unmasking' || !this.request) throw new SecAggError('wrong-phase', 'unmask requests exist once the masked inputs are closed');
    const { survivors, dropped } = this.request;
    if (!survivors.has(id)) throw new SecAggError('not-a-participant', `${id} is not a survivor of this round`);
    const near = [id, ...(this.graph.get(id) ?? [])].sort(compareIds);
    return { survivors: near.filter((v) => survivors.has(v)), dropped: near.filter((v) => dropped.has(v)) };
  }

  receiveUnmaskResponse(message: UnmaskResponse): void {
    const m = parseSecAggMessage(UnmaskResponseSchema, message, 'unmask response');
    this.admit('unmasking', m.from, this.responses);
    const { survivors, dropped } = this.request!;
    const seen = new Set<string>();
    const check = (of: string, share: Uint8Array, set: ReadonlySet<string>, kind: string) => {
      if (!set.has(of)) throw new SecAggError('malformed', `${m.from} revealed a ${kind} share of ${of}, who is not ${kind === 'self-mask' ? 'a survivor' : 'dropped'}`);
      if (!this.holders.get(of)?.has(m.from)) throw new SecAggError('not-a-participant', `${m.from} does not hold a share of ${of}`);
      if (seen.has(of)) throw new SecAggError('duplicate', `${m.from} revealed two shares of ${of}`);
      if (share.length !== SHARE_BYTES) throw new SecAggError('malformed', `a share must be ${SHARE_BYTES} bytes`);
      seen.add(of);
    };
    for (const s of m.selfMaskShares) check(s.of, s.share, survivors, 'self-mask');
    for (const s of m.keyShares) check(s.of, s.share, dropped, 'key');
    this.responses.set(m.from, m);
  }

  /** Ends round 3: reconstructs and removes the masks, returns the decoded sum. */
  finish(): SecAggSum {
    this.expectPhase('unmasking');
    const { survivors, dropped } = this.request!;
    const selfMaskPoints = new Map<string, SharePoint[]>();
    const keyPoints = new Map<string, SharePoint[]>();
    for (const u of survivors) selfMaskPoints.set(u, []);
    for (const v of dropped) keyPoints.set(v, []);
    for (const r of this.responses.values()) {
      const x = this.xOf.get(r.from)!;
      for (const s of r.selfMaskShares) selfMaskPoints.get(s.of)!.push({ x, y: s.share });
      for (const s of r.keyShares) keyPoints.get(s.of)!.push({ x, y: s.share });
    }
    const t = this.params.threshold;
    for (const [kind, points] of [['self-mask', selfMaskPoints], ['key', keyPoints]] as const) {
      for (const [id, p] of points) {
        if (p.length < t) throw new SecAggError('too-many-dropped', `only ${p.length} ${kind} shares of ${id} were revealed (threshold ${t})`);
      }
    }
    const sum = this.maskedSum.slice();
    const scratch = new Uint8Array(sum.length * 4);
    for (const [v, points] of keyPoints) {
      const sSecret = reconstructOrRefuse(points, t, `${v}'s key`);
      const advertised = this.keys.get(v)!;
      if (!equalBytes(x25519.getPublicKey(sSecret), advertised.sPublicKey)) {
        throw new SecAggError('tampered-share', `the revealed shares of ${v}'s key do not reconstruct the key it advertised (a participant sent a wrong share)`);
      }
      for (const w of this.holders.get(v)!) {
        if (!survivors.has(w)) continue;
        const seed = agreeKey(this.params, 'pairwise-mask', sSecret, this.keys.get(w)!.sPublicKey, v, w);
        addMask(sum, seed, compareIds(w, v) < 0 ? -1 : 1, scratch);
      }
    }
    for (const [u, points] of selfMaskPoints) addMask(sum, reconstructOrRefuse(points, t, `${u}'s self-mask seed`), -1, scratch);
    reduceToRing(sum, this.params.ringBits);
    const contributors = [...survivors].sort(compareIds);
    const decoded = decodeFixedPointSum(sum, this.params);
    this.current = 'done';
    this.expected = new Set();
    return { sum: decoded, summands: contributors.length, contributors };
  }

  private neighboursIn(u: string, present: ReadonlyMap<string, unknown>): string[] {
    return (this.graph.get(u) ?? []).filter((v) => present.has(v));
  }

  private admit(phase: SecAggServerPhase, from: string, got: { has(id: string): boolean }): void {
    if (this.current !== phase) {
      throw PHASES.indexOf(this.current) > PHASES.indexOf(phase)
        ? new SecAggError('late', `a ${phase} message from ${from} after that phase closed`)
        : new SecAggError('wrong-phase', `a ${phase} message from ${from} during the ${this.current} phase`);
    }
    if (!this.expected.has(from)) throw new SecAggError('not-a-participant', `${from} is not (or no longer) in this round's ${phase} phase`);
    if (got.has(from)) throw new SecAggError('duplicate', `a second ${phase} message from ${from}`);
  }

  private expectPhase(phase: SecAggServerPhase): void {
    if (this.current !== phase) throw new SecAggError('wrong-phase', `cannot close ${phase} during the ${this.current} phase`);
  }

  private enough(count: number, what: string): void {
    if (count < this.minSummands) throw new SecAggError('too-many-dropped', `only ${count} participants ${what}; at least ${this.minSummands} are needed`);
  }

  private advance(expected: ReadonlySet<string>): void {
    this.current = PHASES[PHASES.indexOf(this.current) + 1];
    this.expected = expected;
  }
}

/** A revealed share that is wrong (a lying participant) usually reconstructs a value too large for a 32-byte secret. */
function reconstructOrRefuse(points: readonly SharePoint[], t: number, what: string): Uint8Array {
  try {
    return reconstructSecret(points, t, SECRET_BYTES);
  } catch (e) {
    if (e instanceof SecAggError && e.reason === 'malformed') {
      throw new SecAggError('tampered-share', `the revealed shares of ${what} do not reconstruct a secret (a participant sent a wrong share)`);
    }
    throw e;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
