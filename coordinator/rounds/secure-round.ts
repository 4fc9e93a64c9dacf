/**
 * The coordinator's side of ONE securely aggregated round on the socket: Bonawitz et al.
 * 2017 ("Practical Secure Aggregation for Privacy-Preserving Machine Learning", rounds
 * 0–3, semi-honest) with the SecAgg+ neighbourhoods of Bell et al. 2020, each phase a
 * pair of socket events (shared/protocol/secagg-events.ts) around shared/secagg's
 * SecAggServer, which does the protocol; this file does the wire:
 *
 *   keys           participants → secagg:keys;            close → secagg:neighbour-keys
 *   shares         participants → secagg:shares;          close → secagg:shares-for-me
 *   masked-inputs  participants → secagg:masked-input;    close → secagg:unmask-request
 *   unmasking      participants → secagg:unmask;          close → the decoded SUM
 *
 * - Identity: a message's sender is the participant id of the socket's credential; the
 *   `from` fields of the message (and of every share in it) are overwritten with it, so
 *   nobody can send for someone else. A second message in one phase is refused
 *   ('duplicate') by SecAggServer, as is one from outside the round ('not-selected'), a
 *   late one ('late') or one out of phase; a refused message changes nothing.
 * - Deadlines: each phase closes when every participant it waits for has answered or
 *   left (a dropped connection counts as a dropout at once), and at the latest `phaseMs`
 *   after it opened. Participants that vanish between phases are dropouts: SecAggServer
 *   drops them from the next phase and, after masked inputs, recovers their masks.
 * - The coordinator never holds an update in the clear: masked inputs are summed in
 *   the ring as they arrive; only the SUM is decoded, at the end.
 * - A round that can no longer complete (SecAggError 'too-many-dropped', or any failure
 *   closing a phase) ends with ok: false; nothing is learned, the model does not change.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Socket } from 'socket.io';
import { FlockError } from '../../shared/errors.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import { EVENTS } from '../../shared/protocol/messages.ts';
import {
  SecAggKeysWireSchema,
  SecAggMaskedInputWireSchema,
  SecAggSharesWireSchema,
  SecAggUnmaskWireSchema,
  SECAGG_EVENTS,
  type SecAggRejectedMessage,
} from '../../shared/protocol/secagg-events.ts';
import { packBinaryFields, unpackBinaryFields } from '../../shared/protocol/secagg-wire-codec.ts';
import { SecAggError } from '../../shared/secagg/secagg-error.ts';
import { buildSecAggParams, type SecAggParams } from '../../shared/secagg/secagg-params.ts';
import { SecAggServer, type SecAggSum } from '../../shared/secagg/secagg-server.ts';
import { globalVectorLength } from '../../shared/update/flat-global-vector.ts';

export type SecurePhase = 'keys' | 'shares' | 'masked-inputs' | 'unmasking' | 'done';

export type SecureRoundEnd = { readonly ok: true; readonly sum: SecAggSum } | { readonly ok: false; readonly reason: string };

export interface SecureRoundOptions {
  readonly round: number;
  readonly params: SecAggParams;
  /** The live, joined socket of a participant of this model, if it has one. */
  readonly socketOf: (participantId: string) => Socket | undefined;
  /** Each phase closes at the latest this long after it opened. */
  readonly phaseMs: number;
  readonly log: Logger;
  /** A masked input was accepted (for counting and the participant's acknowledgement). */
  readonly onMaskedInput: (participantId: string, bytes: number) => void;
  /** Called once, when the round has its sum or can no longer get one. */
  readonly onEnd: (end: SecureRoundEnd) => void;
}

/** The phase each client event belongs to. */
const PHASE_OF: Readonly<Record<string, SecurePhase>> = {
  [SECAGG_EVENTS.secaggKeys]: 'keys',
  [SECAGG_EVENTS.secaggShares]: 'shares',
  [SECAGG_EVENTS.secaggMaskedInput]: 'masked-inputs',
  [SECAGG_EVENTS.secaggUnmask]: 'unmasking',
};
const ORDER: readonly SecurePhase[] = ['keys', 'shares', 'masked-inputs', 'unmasking', 'done'];

export class SecureRound {
  private readonly server: SecAggServer;
  private current: SecurePhase = 'keys';
  /** Participants the current phase still waits for. */
  private waitingFor: Set<string>;
  /** Participants whose connection closed during the round: never waited for again. */
  private readonly left = new Set<string>();
  private timer: NodeJS.Timeout;

  constructor(private readonly o: SecureRoundOptions) {
    this.server = new SecAggServer(o.params);
    this.waitingFor = new Set(o.params.participants);
    this.timer = setTimeout(() => this.closePhase('deadline'), o.phaseMs);
  }

  get phase(): SecurePhase {
    return this.current;
  }

  get round(): number {
    return this.o.round;
  }

  /** What was announced with the round. */
  get params(): SecAggParams {
    return this.o.params;
  }

  /**
   * One secagg:* message from `participantId` (the socket's credential). Throws FlockError
   * (SecAggError for the protocol's refusals) on anything wrong, having changed nothing.
   */
  receive(event: string, participantId: string, packed: unknown): void {
    const phase = PHASE_OF[event];
    if (!phase) throw new FlockError('malformed', `'${event}' is not a secure-aggregation message`);
    const raw = unpackBinaryFields(packed);
    const round = (raw as { round?: unknown } | null)?.round;
    if (typeof round === 'number' && round !== this.o.round) {
      throw new FlockError(round < this.o.round ? 'late' : 'wrong-round', `${event} for round ${round}, but round ${this.o.round} is the one being aggregated`);
    }
    if (this.current === 'done') throw new SecAggError('late', `round ${this.o.round} is no longer aggregating`);
    if (ORDER.indexOf(phase) < ORDER.indexOf(this.current)) throw new SecAggError('late', `${event}: the ${phase} phase of round ${this.o.round} has closed`);
    if (phase !== this.current) throw new SecAggError('wrong-phase', `${event} arrived during the ${this.current} phase of round ${this.o.round}`);
    const from = participantId;
    switch (phase) {
      case 'keys': {
        const { round: _r, ...msg } = parse(SecAggKeysWireSchema, raw, event);
        this.server.receiveKeys({ ...msg, from });
        break;
      }
      case 'shares': {
        const { round: _r, ...msg } = parse(SecAggSharesWireSchema, raw, event);
        this.server.receiveShares({ from, shares: msg.shares.map((s) => ({ ...s, from })) });
        break;
      }
      case 'masked-inputs': {
        const { round: _r, ...msg } = parse(SecAggMaskedInputWireSchema, raw, event);
        this.server.receiveMaskedInput({ ...msg, from });
        this.o.onMaskedInput(from, msg.masked.byteLength);
        break;
      }
      case 'unmasking': {
        const { round: _r, ...msg } = parse(SecAggUnmaskWireSchema, raw, event);
        this.server.receiveUnmaskResponse({ ...msg, from });
        break;
      }
    }
    this.answered(from);
  }

  /** The participant's connection closed: a dropout from now on, never waited for again. */
  departed(participantId: string): void {
    if (this.current === 'done' || !this.o.params.participants.includes(participantId)) return;
    this.left.add(participantId);
    this.answered(participantId);
  }

  /** Stops the phase timer; no more callbacks. */
  abort(): void {
    clearTimeout(this.timer);
    this.current = 'done';
  }

  private answered(participantId: string): void {
    this.waitingFor.delete(participantId);
    // setImmediate: messages already received by the socket layer are handled before the phase closes.
    if (this.waitingFor.size === 0) setImmediate(() => this.closePhase('everyone'));
  }

  /** Ends the current phase (at its deadline, or once nobody is left to wait for) and opens the next. */
  private closePhase(why: 'deadline' | 'everyone'): void {
    const closing = this.current;
    if (closing === 'done' || (why === 'everyone' && this.waitingFor.size > 0)) return;
    clearTimeout(this.timer);
    try {
      let next: Iterable<string>;
      switch (closing) {
        case 'keys': {
          const toSend = this.server.closeKeys();
          for (const [id, keys] of toSend) this.o.socketOf(id)?.emit(EVENTS.secaggNeighbourKeys, packBinaryFields({ round: this.o.round, ...keys }));
          next = toSend.keys();
          break;
        }
        case 'shares': {
          const toSend = this.server.closeShares();
          for (const [id, shares] of toSend) this.o.socketOf(id)?.emit(EVENTS.secaggSharesForMe, packBinaryFields({ round: this.o.round, ...shares }));
          next = toSend.keys();
          break;
        }
        case 'masked-inputs': {
          const request = this.server.closeMaskedInputs();
          // Each survivor gets the request restricted to itself and its neighbours: O(k) bytes, not O(n).
          for (const id of request.survivors) this.o.socketOf(id)?.emit(EVENTS.secaggUnmaskRequest, packBinaryFields({ round: this.o.round, ...this.server.unmaskRequestFor(id) }));
          next = request.survivors;
          break;
        }
        case 'unmasking': {
          const sum = this.server.finish();
          this.current = 'done';
          this.o.log.info({ round: this.o.round, summands: sum.summands, why }, 'secure aggregation: round unmasked');
          this.o.onEnd({ ok: true, sum });
          return;
        }
      }
      this.current = ORDER[ORDER.indexOf(closing) + 1];
      this.waitingFor = new Set([...next].filter((id) => !this.left.has(id)));
      this.o.log.debug({ round: this.o.round, closed: closing, why, waitingFor: this.waitingFor.size }, 'secure aggregation: phase closed');
      this.timer = setTimeout(() => this.closePhase('deadline'), this.o.phaseMs);
      if (this.waitingFor.size === 0) setImmediate(() => this.closePhase('everyone'));
    } catch (err) {
      this.current = 'done';
      const reason = err instanceof Error ? err.message : String(err);
      this.o.log.warn({ round: this.o.round, phase: closing, err }, `secure aggregation: round abandoned while closing the ${closing} phase`);
      this.o.onEnd({ ok: false, reason });
    }
  }
}

function parse<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: (string | number)[]; message: string }[] } } }, raw: unknown, event: string): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new SecAggError('malformed', `${event}: ${issue ? `${issue.path.join('.') || '(message)'}: ${issue.message}` : 'does not parse'}`);
}

/** What a refused secagg:* message gets back (it changed nothing). */
export function secAggRejection(round: number | null, err: FlockError): SecAggRejectedMessage {
  return { round, code: err.code, reason: err instanceof SecAggError ? err.reason : 'wire', message: err.message.slice(0, 1000) };
}

/**
 * The parameters of one securely aggregated round of `spec`'s model: its selected
 * participants, the dense GLOBAL vector, the round's clip bound as the ring's range, and a
 * context that binds every key, share and mask to this coordinator run, model, round and
 * base version (a random nonce: a round number reused after a restart gets other keys).
 */
export function secureRoundParams(o: { spec: ModelSpec; round: number; version: number; participants: readonly string[]; clipNorm: number; dropoutFraction: number }): SecAggParams {
  return buildSecAggParams({
    context: `${o.spec.kind}/round-${o.round}/v${o.version}/${randomBytes(8).toString('hex')}`,
    participants: o.participants,
    vectorLength: globalVectorLength(o.spec),
    clipBound: o.clipNorm,
    dropoutFraction: o.dropoutFraction,
  });
}
