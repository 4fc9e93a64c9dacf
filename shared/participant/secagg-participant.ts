/**
 * A participant's side of securely aggregated rounds on the socket (Bonawitz et al. 2017,
 * "Practical Secure Aggregation for Privacy-Preserving Machine Learning", rounds 0–3;
 * SecAgg+ neighbourhoods, Bell et al. 2020): the same code in the browser and the Node
 * fleet. shared/secagg's SecAggClient does the protocol; this drives it from the
 * coordinator's events (shared/protocol/secagg-events.ts):
 *
 *   round:start with secureAggregation  → secagg:keys at once (before training)
 *   secagg:neighbour-keys               → secagg:shares
 *   secagg:shares-for-me + the clipped Δ → secagg:masked-input (whichever comes last)
 *   secagg:unmask-request               → secagg:unmask
 *
 * The update is the participant's clipped dense Δ of the GLOBAL parameters, laid out
 * flat (shared/update/flat-global-vector.ts) and encoded in the ring by SecAggClient:
 * never row-sparse, never sent in the clear. A round this participant cannot finish
 * (it declined, training failed, the connection dropped) simply ends: to the coordinator
 * it is a dropout, and the protocol recovers its masks.
 *
 * E2E probe: when a test defines `globalThis[SECAGG_INPUT_PROBE]` (Playwright's
 * page.exposeFunction), the participant hands it the exact vector it masked, so the test
 * can check the aggregate against what the browsers computed, and sends the masked input
 * once the probe's promise settles, so the test can order the participants' sends.
 * Nothing defines it in the app; it sends nothing anywhere.
 */
import type { Socket } from 'socket.io-client';
import type { ModelSpec } from '../model/model-spec.ts';
import { EVENTS, type RoundStartMessage } from '../protocol/messages.ts';
import {
  SecAggNeighbourKeysWireSchema,
  SecAggRejectedMessageSchema,
  SecAggSharesForMeWireSchema,
  SecAggUnmaskRequestWireSchema,
} from '../protocol/secagg-events.ts';
import { packBinaryFields, unpackBinaryFields } from '../protocol/secagg-wire-codec.ts';
import { SecAggClient } from '../secagg/secagg-client.ts';
import type { SharesForMe } from '../secagg/secagg-messages.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { flattenGlobals } from '../update/flat-global-vector.ts';
import type { ParticipantEvent } from './participant-events.ts';

/** Name of the test-only probe (see the header). */
export const SECAGG_INPUT_PROBE = '__flockSecAggInputProbe';
export interface SecAggInputProbeCall {
  readonly model: string;
  readonly round: number;
  readonly participantId: string;
  readonly input: number[];
}

export interface SecAggSessionOptions {
  readonly socket: Socket;
  readonly model: string;
  readonly emit: (e: ParticipantEvent) => void;
  /** Bytes of a masked input sent (counted like an update's). */
  readonly onSent: (round: number, bytes: number) => void;
}

/** One participant's secure-aggregation rounds of one model, on its socket. */
export class SecAggSession {
  private participantId: string | null = null;
  private current: SecAggParticipantRound | null = null;

  constructor(private readonly o: SecAggSessionOptions) {
    const on = (event: string, fn: (round: SecAggParticipantRound, raw: unknown) => void) =>
      o.socket.on(event, (packed: unknown) => {
        const round = this.current;
        if (!round) return;
        try {
          const raw = unpackBinaryFields(packed);
          if ((raw as { round?: unknown } | null)?.round !== round.round) return; // a stale round's message: nothing to do
          fn(round, raw);
        } catch (err) {
          this.fail(round, err);
        }
      });
    on(EVENTS.secaggNeighbourKeys, (r, raw) => r.neighbourKeys(raw));
    on(EVENTS.secaggSharesForMe, (r, raw) => r.sharesForMe(raw));
    on(EVENTS.secaggUnmaskRequest, (r, raw) => r.unmaskRequest(raw));
    o.socket.on(EVENTS.secaggRejected, (raw: unknown) => {
      const m = SecAggRejectedMessageSchema.safeParse(raw);
      const text = m.success ? `${m.data.code} (${m.data.reason}): ${m.data.message}` : 'unreadable refusal';
      o.emit({ type: 'rejected', round: m.success ? m.data.round : null, code: m.success ? m.data.code : 'malformed', message: `secure aggregation: ${text}` });
    });
  }

  /** The id the coordinator knows this participant by (welcome), which the round's params list. */
  set identity(id: string) {
    this.participantId = id;
  }

  /**
   * A securely aggregated round was announced: takes part (advertises keys now) and
   * returns the round, to be given its update once trained; null when it cannot.
   */
  begin(msg: RoundStartMessage): SecAggParticipantRound | null {
    const params = msg.secureAggregation;
    if (!params) return null;
    this.current = null;
    if (!this.participantId) {
      this.o.emit({ type: 'error', message: `secure aggregation: round ${msg.round} announced before the welcome` });
      return null;
    }
    const round = new SecAggParticipantRound(msg.round, new SecAggClient(params, this.participantId), this.o, this.participantId);
    try {
      round.advertise();
      this.current = round;
      return round;
    } catch (err) {
      this.fail(round, err);
      return null;
    }
  }

  private fail(round: SecAggParticipantRound, err: unknown): void {
    if (this.current === round) this.current = null;
    this.o.emit({ type: 'error', message: `secure aggregation, round ${round.round}: ${err instanceof Error ? err.message : String(err)}` });
  }
}

/** One round: the SecAggClient and what it waits for. */
export class SecAggParticipantRound {
  private shares: SharesForMe | null = null;
  private update: Float32Array | null = null;
  private masked = false;

  constructor(
    readonly round: number,
    private readonly client: SecAggClient,
    private readonly o: SecAggSessionOptions,
    private readonly participantId: string,
  ) {}

  advertise(): void {
    this.send(EVENTS.secaggKeys, this.client.advertiseKeys());
  }

  neighbourKeys(raw: unknown): void {
    const { round: _r, ...keys } = SecAggNeighbourKeysWireSchema.parse(raw);
    this.send(EVENTS.secaggShares, this.client.shareKeys(keys));
  }

  sharesForMe(raw: unknown): void {
    const { round: _r, ...shares } = SecAggSharesForMeWireSchema.parse(raw);
    this.shares = shares;
    this.maskIfReady();
  }

  /** The clipped Δ of the GLOBAL parameters (‖Δ‖₂ ≤ C, so every coordinate is within ±C). */
  input(spec: ModelSpec, delta: NamedTensors): void {
    this.update = flattenGlobals(spec, delta, this.client.params.clipBound);
    this.maskIfReady();
  }

  unmaskRequest(raw: unknown): void {
    const { round: _r, ...request } = SecAggUnmaskRequestWireSchema.parse(raw);
    this.send(EVENTS.secaggUnmask, this.client.unmask(request));
  }

  private maskIfReady(): void {
    if (this.masked || !this.shares || !this.update) return;
    this.masked = true;
    const msg = this.client.maskedInput(this.shares, this.update);
    const send = () => {
      this.send(EVENTS.secaggMaskedInput, msg);
      this.o.onSent(this.round, msg.masked.byteLength);
    };
    const probe = (globalThis as Record<string, unknown>)[SECAGG_INPUT_PROBE];
    if (typeof probe !== 'function') return send();
    const call: SecAggInputProbeCall = { model: this.o.model, round: this.round, participantId: this.participantId, input: Array.from(this.update) };
    void Promise.resolve()
      .then(() => probe(call))
      .catch(() => {})
      .then(send);
  }

  private send(event: string, body: object): void {
    this.o.socket.emit(event, packBinaryFields({ round: this.round, ...body }));
  }
}
