/**
 * A participant for the differential-privacy tests: answers every round it is sampled
 * for with a KNOWN update — a fixed unit direction of its own, scaled to a fraction of
 * the clip bound the round announced — and records, per round, the clip bound it was
 * told and whether its update was accepted. The test can then subtract the exact mean of
 * what was accepted from the released delta and look at the noise alone.
 */
import type { Socket } from 'socket.io-client';
import type { ModelKind } from '../../shared/model/model-registry.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import { EVENTS, type RoundStartMessage, type UpdateRejectedMessage } from '../../shared/protocol/messages.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import { elementCount, type NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { encodeUpdate, toWireTensors } from '../../shared/update/tensor-codec.ts';
import { joinAs } from './test-participant.ts';

/** A unit-norm direction over every GLOBAL coordinate of `spec`, from `seed`. */
export function unitDirection(spec: ModelSpec, seed: number): NamedTensors {
  const rng = new SeededRandom(seed);
  const out: NamedTensors = {};
  let sq = 0;
  for (const p of spec.params.filter((q) => q.scope === 'global')) {
    const a = new Float32Array(elementCount(p.shape));
    for (let i = 0; i < a.length; i++) {
      a[i] = rng.normal();
      sq += a[i] * a[i];
    }
    out[p.name] = a;
  }
  const s = 1 / Math.sqrt(sq);
  for (const a of Object.values(out)) for (let i = 0; i < a.length; i++) a[i] *= s;
  return out;
}

const scaled = (t: NamedTensors, s: number): NamedTensors => Object.fromEntries(Object.entries(t).map(([name, d]) => [name, d.map((x) => x * s)]));

export class KnownUpdateBot {
  /** Rounds this bot was sampled for, with the clip bound each announced. */
  readonly announced = new Map<number, number>();
  /** Rounds whose update the coordinator accepted. */
  readonly accepted = new Set<number>();
  readonly rejections: UpdateRejectedMessage[] = [];

  private constructor(readonly socket: Socket, readonly direction: NamedTensors, readonly scale: number) {}

  /**
   * Joins `kind` and answers each round with `scale × C_round × direction`, claiming a
   * pre-clip norm of `claimedNorm × C_round` (above or below the bound: adaptive clipping's bit).
   */
  static async join(url: string, kind: ModelKind, spec: ModelSpec, seed: number, o: { scale: number; claimedNorm: number }): Promise<KnownUpdateBot> {
    const direction = unitDirection(spec, seed);
    let bot: KnownUpdateBot | undefined;
    const early: { announced: [number, number][]; accepted: number[] } = { announced: [], accepted: [] };
    const { socket } = await joinAs(url, kind, {
      beforeJoin: (s) => {
        s.on(EVENTS.roundStart, (m: RoundStartMessage) => {
          const c = m.config.clipNorm;
          if (bot) bot.announced.set(m.round, c);
          else early.announced.push([m.round, c]);
          s.emit(EVENTS.update, encodeUpdate({ round: m.round, baseVersion: m.version, numExamples: 1, preClipNorm: o.claimedNorm * c, tensors: toWireTensors(spec, scaled(direction, o.scale * c)) }));
        });
        s.on(EVENTS.updateAck, (a: { round: number }) => (bot ? bot.accepted.add(a.round) : early.accepted.push(a.round)));
        s.on(EVENTS.updateRejected, (r: UpdateRejectedMessage) => bot?.rejections.push(r));
      },
    });
    bot = new KnownUpdateBot(socket, direction, o.scale);
    for (const [r, c] of early.announced) bot.announced.set(r, c);
    for (const r of early.accepted) bot.accepted.add(r);
    return bot;
  }

  /** The update this bot sent in `round` if the coordinator accepted it (bit-identical to what was sent), else undefined. */
  acceptedUpdate(round: number): NamedTensors | undefined {
    const c = this.announced.get(round);
    if (c === undefined || !this.accepted.has(round)) return undefined;
    return scaled(this.direction, this.scale * c);
  }

  close(): void {
    this.socket.close();
  }
}
