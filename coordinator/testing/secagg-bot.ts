/**
 * A participant for the secure-aggregation tests: the SecAggSession every browser runs,
 * driven from round:start, answering with a KNOWN clipped update; optionally leaving in its
 * first round after its shares (never masking) or right after its masked input was
 * acknowledged. Records the rounds it was told of and the masked inputs acknowledged.
 */
import type { Socket } from 'socket.io-client';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import { SecAggSession } from '../../shared/participant/secagg-participant.ts';
import { EVENTS, RoundStartMessageSchema, type RoundStartMessage } from '../../shared/protocol/messages.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { issueCredential, joinAs } from './test-participant.ts';

export type Leave = 'stays' | 'after-shares' | 'after-masked-input';

/** A participant with SecAggSession and a known update; optionally leaves mid-round (its first round). */
export class SecAggBot {
  readonly announced = new Map<number, RoundStartMessage>();
  readonly acked = new Set<number>();
  readonly errors: string[] = [];
  socket!: Socket;
  participantId = '';

  private constructor(readonly delta: NamedTensors, readonly leave: Leave) {}

  /** `delta`: the clipped update it masks in every round it takes part in. */
  static async join(url: string, spec: ModelSpec, delta: NamedTensors, leave: Leave = 'stays'): Promise<SecAggBot> {
    const bot = new SecAggBot(delta, leave);
    const cred = await issueCredential(url);
    bot.participantId = cred.participantId;
    const { socket } = await joinAs(url, 'mf', {
      credential: cred,
      beforeJoin: (s) => {
        const session = new SecAggSession({ socket: s, model: 'mf', emit: (e) => e.type === 'error' || e.type === 'rejected' ? bot.errors.push(JSON.stringify(e)) : undefined, onSent: () => {} });
        session.identity = cred.participantId;
        s.on('disconnect', (why: string) => bot.errors.push(`disconnect: ${why}`));
        s.on(EVENTS.protocolError, (m: unknown) => bot.errors.push(`protocol:error ${JSON.stringify(m)}`));
        s.on(EVENTS.roundStart, (raw: unknown) => {
          const m = RoundStartMessageSchema.parse(raw);
          bot.announced.set(m.round, m);
          const r = session.begin(m);
          // The one that leaves after its shares never trains: it closes when its shares are routed.
          if (bot.leave === 'after-shares') s.once(EVENTS.secaggSharesForMe, () => s.close());
          else r?.input(spec, bot.delta);
        });
        s.on(EVENTS.updateAck, (a: { round: number }) => {
          bot.acked.add(a.round);
          if (bot.leave === 'after-masked-input') s.close();
        });
      },
    });
    bot.socket = socket;
    return bot;
  }

  close(): void {
    this.socket.close();
  }
}
