import type { Logger } from 'pino';
import type { Namespace, Socket } from 'socket.io';
import { RoundAggregation } from '../../shared/aggregate/round-aggregation.ts';
import type { AggregationSettings } from '../../shared/aggregate/aggregation-settings.ts';
import { createServerOptimizer, type ServerOptimizer } from '../../shared/aggregate/server-optimizer.ts';
import { FlockError } from '../../shared/errors.ts';
import type { ModelDescriptor } from '../../shared/model/model-registry.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import {
  EligibilityMessageSchema,
  EVENTS,
  JoinMessageSchema,
  ParticipantIdSchema,
  PROTOCOL_VERSION,
  RejectionCodeSchema,
  UpdatePayloadSchema,
  type BackendName,
  type ModelPrivacy,
  type ProtocolErrorMessage,
  type RejectionCode,
  type RoundConfig,
  type RoundOutcome,
  type RoundRecord,
  type RoundStartMessage,
  type UpdateRejectedMessage,
  type WelcomeMessage,
} from '../../shared/protocol/messages.ts';
import { deriveSeed } from '../../shared/random/seeded-random.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { decodeUpdate, maxEncodedUpdateBytes, peekUpdateRound, toWireTensors, type WeightsFile } from '../../shared/update/tensor-codec.ts';
import { roundSettings, type ServeConfig } from '../serve-config.ts';
import type { CheckpointStore } from '../store/checkpoint-store.ts';
import { NO_ROUND_OBSERVER, type RoundObserver } from './round-observer.ts';
import type { RoundPrivacy } from './round-privacy.ts';
import { decideRound, nextRoundAt, type RoundHold } from './round-pacing.ts';
import { roundSize, type RoundSize } from './round-size.ts';
import { poissonSample, sampleParticipants } from './sample-participants.ts';
import { secureUniform } from '../../shared/random/secure-random.ts';
import { checkUpdateEncodings, DEFAULT_UPDATE_ENCODINGS, type UpdateEncoding } from '../../shared/update/update-encoding.ts';
import { SECAGG_CLIENT_EVENTS } from '../../shared/protocol/secagg-events.ts';
import { secAggRejection, SecureRound, secureRoundParams, type SecureRoundEnd } from './secure-round.ts';
import { SecureSumRelease } from './secure-round-release.ts';
import { saveGrownVersion } from '../catalog/grow-model-version.ts';

type CloseReason = 'target' | 'nobody-left' | 'stragglers-dropped' | 'deadline';

/** One live connection of one participant (at most one per participant and model). */
interface Connection {
  readonly socket: Socket;
  readonly participantId: string;
  readonly backend: BackendName;
  eligible: boolean;
  /** Has something the current version has not learnt from it (round-pacing.ts); true when the client does not say. */
  hasNewData: boolean;
}

interface OpenRound {
  readonly round: number;
  readonly baseVersion: number;
  /** Updates that close the round as soon as they are in. */
  readonly target: number;
  /** Updates the round needs to aggregate at all (at its deadline or when nobody is left). */
  readonly needed: number;
  readonly selected: ReadonlySet<string>;
  readonly reported: Set<string>;
  /** Selected participants that left (or were replaced) before reporting: never waited for. */
  readonly departed: Set<string>;
  readonly aggregation: RoundAggregation;
  /** The update encodings this round's announcement offered (update-encoding.ts). */
  readonly encodings: readonly UpdateEncoding[];
  readonly startedAt: number;
  readonly deadline: number;
  readonly timer: NodeJS.Timeout;
  graceTimer: NodeJS.Timeout | null;
  rejected: number;
  examples: number;
  normSum: number;
  /** Under secure aggregation (secure-round.ts): the round's phases; its unmasked sum once it ends. */
  readonly secure?: SecureRound;
  secureRelease?: SecureSumRelease;
}

export interface EngineState {
  readonly version: number;
  readonly round: number;
  readonly globals: NamedTensors;
  /** The server optimizer's state saved with `version` (absent: fresh moments). */
  readonly serverState?: NamedTensors;
}

export interface RoundEngineDeps {
  readonly store: CheckpointStore;
  readonly spec: ModelSpec;
  readonly descriptor: ModelDescriptor;
  readonly config: ServeConfig;
  readonly log: Logger;
  readonly observer?: RoundObserver;
  /** Differential privacy of this model (openRoundPrivacy); absent: no DP. */
  readonly privacy?: RoundPrivacy;
}

/** The modelKind tag of a server-optimizer state file, so a state is only loaded into its own kind. */
export const serverStateTag = (modelKind: string, optimizer: string): string => `${modelKind}/server-${optimizer}`;

/**
 * The coordinator's round loop for one model (DESIGN.md, "The data path"):
 *
 * - Identity: a connection's participant id is the one its credential carried
 *   (socket.data.participantId, set by the handshake middleware), never a message
 *   field. One connection per participant: a new one replaces the old.
 * - A round selects among connected participants that said they have enough data,
 *   over-selects by `overselect`, and closes as soon as `target` updates are in; at
 *   its deadline, or when nobody selected is left to wait for, it aggregates if it
 *   has `quorum × target`. Once it has its quorum, stragglers get a bounded grace.
 * - Each update goes through the shared aggregation pipeline (validate → weight →
 *   bound → combine, shared/aggregate/round-aggregation.ts), then the server step.
 * - Nothing a participant sends, and no failure while closing a round, can stop the
 *   engine: every error is logged, the round is recorded as failed, the next one opens.
 * - Under differential privacy (round-privacy.ts): participants are Poisson-sampled at
 *   rate q from the CSPRNG (no over-selection); the round closes when every sampled one
 *   reported or left, or at its deadline, and is released whatever arrived (no quorum:
 *   even nothing, as the noise alone), noised over the plan's fixed cohort,
 *   each round's clip bound is the current (adaptive) one, and no round opens that the
 *   privacy budget cannot pay for; a released round is charged once its version is saved.
 */
export class RoundEngine {
  private readonly clients = new Map<string, Connection>(); // by participant id
  private open: OpenRound | null = null;
  private closing = false;
  private startTimer: NodeJS.Timeout | null = null;
  /** When the last round opened (ms since epoch): the next opens `roundIntervalMs` later at the earliest. */
  private lastOpenedAt: number | null = null;
  /** Why the last due round did not open (logged when it changes; null once one opens). */
  private hold: RoundHold | null = null;
  private stopped = false;
  private inFlightClose: Promise<void> = Promise.resolve();
  private version: number;
  private roundCounter: number;
  private globals: NamedTensors;
  maxUpdateBytes: number;
  private readonly roundConfig: Omit<RoundConfig, 'seed'>;
  private readonly plainAggregation: AggregationSettings;
  private readonly optimizer: ServerOptimizer;
  private readonly dp: RoundPrivacy | undefined;
  /** Under DP: who is in a round comes from the CSPRNG. */
  private readonly sampling = secureUniform();
  /** Under DP: the budget refusal was logged (once). */
  private refusalLogged = false;
  private readonly observer: RoundObserver;
  private readonly store: CheckpointStore;
  private spec: ModelSpec;
  private descriptor: ModelDescriptor;
  /** A catalog change waiting to be applied between rounds (requestModel). */
  private pendingModel: ModelDescriptor | null = null;
  /** A grown version is being written: no round opens meanwhile. */
  private growing = false;
  private inFlightGrow: Promise<void> = Promise.resolve();
  private readonly config: ServeConfig;
  private readonly log: Logger;

  /** `io` is this model's own namespace: one engine per federated model. */
  constructor(private readonly io: Namespace, deps: RoundEngineDeps, initial: EngineState) {
    ({ store: this.store, spec: this.spec, descriptor: this.descriptor, config: this.config } = deps);
    this.log = deps.log.child({ model: deps.descriptor.kind });
    this.observer = deps.observer ?? NO_ROUND_OBSERVER;
    this.version = initial.version;
    this.roundCounter = initial.round;
    this.globals = initial.globals;
    this.roundConfig = roundSettings(this.config, this.descriptor.kind);
    this.dp = deps.privacy;
    this.plainAggregation = {
      weighting: this.config.weighting,
      combine: this.config.combine,
      clipNorm: this.roundConfig.clipNorm,
      rowNormalize: this.config.rowNormalize,
    };
    this.optimizer = createServerOptimizer({ ...this.config.serverOptimizer, learningRate: this.config.serverLearningRate });
    if (initial.serverState) this.optimizer.loadState(initial.serverState);
    this.maxUpdateBytes = maxEncodedUpdateBytes(this.spec);
    io.on('connection', (socket) => this.onConnection(socket));
  }

  get currentVersion(): number {
    return this.version;
  }
  get currentRound(): number {
    return this.roundCounter;
  }
  /** The model as of the current version (its item count grows with the catalog). */
  get currentDescriptor(): ModelDescriptor {
    return this.descriptor;
  }
  get currentSpec(): ModelSpec {
    return this.spec;
  }
  /** Participants with a live, joined connection to this model. */
  get connectedClients(): number {
    return this.clients.size;
  }
  /** Connected participants with enough data to be selected. */
  get eligibleClients(): number {
    let n = 0;
    for (const c of this.clients.values()) if (c.eligible) n++;
    return n;
  }
  /** What this model's next round asks of participants (the seed differs per round; under adaptive clipping, the clip bound too). */
  get settings(): Omit<RoundConfig, 'seed'> {
    return this.dp ? { ...this.roundConfig, clipNorm: this.dp.clipNorm } : this.roundConfig;
  }
  /** How the next round's updates are weighed and combined. */
  get aggregation(): AggregationSettings {
    return this.dp ? this.dp.aggregationSettings() : this.plainAggregation;
  }
  /** This model's differential-privacy guarantee so far (null without DP). */
  get privacy(): ModelPrivacy | null {
    return this.dp ? this.dp.status(this.version) : null;
  }

  /** Opens no more rounds; resolves once a round being closed (and its save) has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.startTimer) clearTimeout(this.startTimer);
    if (this.open) {
      clearTimeout(this.open.timer);
      if (this.open.graceTimer) clearTimeout(this.open.graceTimer);
    }
    await this.inFlightClose;
    await this.inFlightGrow;
  }

  /**
   * The catalog changed (coordinator/catalog/): the model becomes `next` in a new version,
   * written between rounds — at once when no round is open, else when the open one has
   * closed (an open round always aggregates against its own version's shapes).
   */
  requestModel(next: ModelDescriptor): void {
    this.pendingModel = next;
    this.applyPendingModel();
  }

  private applyPendingModel(): void {
    const next = this.pendingModel;
    if (!next || this.stopped || this.open || this.closing || this.growing) return;
    this.pendingModel = null;
    this.growing = true;
    this.inFlightGrow = this.growModel(next)
      .catch((err: unknown) => this.log.error({ err }, 'growing the model for a catalog change failed; the model is unchanged'))
      .finally(() => {
        this.growing = false;
        this.applyPendingModel(); // a change that came in meanwhile
        this.scheduleRound();
      });
  }

  /** Writes version v+1 of the grown model (grow-model-version.ts) and announces it with its descriptor. */
  private async growModel(next: ModelDescriptor): Promise<void> {
    const round = this.roundCounter;
    const newVersion = Math.max(this.version + 1, this.store.nextVersion());
    const grown = await saveGrownVersion({
      store: this.store, optimizer: this.optimizer, from: this.spec, next, globals: this.globals, version: newVersion, round,
      seed: deriveSeed(this.config.seed, newVersion, 0x9e0),
      serverStateTag: serverStateTag(this.spec.kind, this.optimizer.config.kind),
      privacyRecord: this.dp?.currentRecord(newVersion, round),
    });
    this.spec = grown.spec;
    this.descriptor = next;
    this.globals = grown.globals;
    this.version = newVersion;
    for (const c of this.clients.values()) c.hasNewData = true; // a version nobody has trained on
    this.maxUpdateBytes = maxEncodedUpdateBytes(this.spec);
    this.io.emit(EVENTS.modelVersion, { version: newVersion, round, model: next });
    this.log.info({ version: newVersion, numItems: next.numItems, retired: next.retiredItems?.length ?? 0 }, 'catalog changed: new model version written');
  }

  private onConnection(socket: Socket): void {
    const id = ParticipantIdSchema.safeParse(socket.data?.participantId);
    if (!id.success) {
      // The handshake middleware sets it for every accepted connection; without it nothing is trusted.
      this.protocolError(socket, 'unauthorized', 'no verified credential on this connection: ask /api/credentials for one');
      socket.disconnect(true);
      return;
    }
    const participantId = id.data;
    const previous = this.clients.get(participantId);
    if (previous && previous.socket.id !== socket.id) {
      this.protocolError(previous.socket, 'replaced', 'this participant connected again elsewhere; this connection is closed');
      previous.socket.disconnect(true);
      this.forget(previous);
    }
    let joined = false;
    socket.on(EVENTS.join, (raw: unknown) =>
      this.guarded('join', () => {
        if (joined) return this.protocolError(socket, 'malformed', 'join once per connection');
        const parsed = JoinMessageSchema.safeParse(raw);
        if (!parsed.success) return this.protocolError(socket, 'malformed', `join: ${parsed.error.issues[0]?.message}`);
        const join = parsed.data;
        if (join.protocolVersion !== PROTOCOL_VERSION) {
          this.protocolError(socket, 'protocol-mismatch', `client speaks protocol ${join.protocolVersion}, coordinator ${PROTOCOL_VERSION}: reload the page`);
          socket.disconnect(true);
          return;
        }
        if (!socket.connected) return; // left (or was replaced) while the join was in flight
        joined = true;
        this.clients.set(participantId, { socket, participantId, backend: join.backend, eligible: join.eligible, hasNewData: join.hasNewData ?? true });
        this.log.info({ participantId, backend: join.backend, eligible: join.eligible, hasNewData: join.hasNewData }, 'participant joined');
        const welcome: WelcomeMessage = { protocolVersion: PROTOCOL_VERSION, participantId, model: this.descriptor, version: this.version };
        socket.emit(EVENTS.welcome, welcome);
        this.scheduleRound();
      }),
    );
    socket.on(EVENTS.eligibility, (raw: unknown) =>
      this.guarded('eligibility', () => {
        const parsed = EligibilityMessageSchema.safeParse(raw);
        if (!parsed.success) return this.protocolError(socket, 'malformed', `eligibility: ${parsed.error.issues[0]?.message}`);
        const client = this.clients.get(participantId);
        if (!client || client.socket.id !== socket.id) return this.protocolError(socket, 'malformed', 'send join first');
        client.eligible = parsed.data.eligible;
        client.hasNewData = parsed.data.hasNewData ?? true;
        // A selected participant that declines (page hidden, upload budget spent, nothing new) is not waited for.
        const open = this.open;
        if ((!client.eligible || !client.hasNewData) && open && open.selected.has(participantId) && !open.reported.has(participantId)) {
          open.departed.add(participantId);
          open.secure?.departed(participantId);
          this.closeIfDone();
        }
        this.scheduleRound();
      }),
    );
    socket.on(EVENTS.update, (raw: unknown) => this.guarded('update', () => this.onUpdate(socket, participantId, joined, raw)));
    for (const event of SECAGG_CLIENT_EVENTS) socket.on(event, (raw: unknown) => this.guarded(event, () => this.onSecAgg(socket, participantId, joined, event, raw)));
    socket.on('disconnect', (reason) =>
      this.guarded('disconnect', () => {
        const client = this.clients.get(participantId);
        if (client?.socket.id === socket.id) this.forget(client);
        this.log.info({ participantId, reason }, 'participant left');
      }),
    );
  }

  /** Removes a connection; a selected participant that had not reported is no longer waited for. */
  private forget(client: Connection): void {
    if (this.clients.get(client.participantId)?.socket.id === client.socket.id) this.clients.delete(client.participantId);
    const open = this.open;
    // A secure round also stops waiting for one that left after its masked input (it would never unmask).
    if (open?.secure) open.secure.departed(client.participantId);
    if (open && open.selected.has(client.participantId) && !open.reported.has(client.participantId)) {
      open.departed.add(client.participantId);
      this.closeIfDone();
    }
  }

  /** Runs a socket handler; a bug in it is logged, never allowed to take the process down. */
  private guarded(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err, event: what }, 'socket handler failed');
    }
  }

  private protocolError(socket: Socket, code: string, message: string): void {
    const msg: ProtocolErrorMessage = { code, message };
    socket.emit(EVENTS.protocolError, msg);
  }

  private reject(socket: Socket, round: number | null, err: FlockError, bytes: number): void {
    const parsed = RejectionCodeSchema.safeParse(err.code);
    const code: RejectionCode = parsed.success ? parsed.data : 'malformed';
    const msg: UpdateRejectedMessage = { round, code, message: err.message };
    socket.emit(EVENTS.updateRejected, msg);
    if (this.open && round === this.open.round) this.open.rejected++;
    this.observer.updateRejected(this.descriptor.kind, code, bytes);
    // Late updates are the expected fate of over-selected participants: counted in /metrics, logged at debug.
    if (code === 'late') this.log.debug({ round, code }, 'update rejected');
    else this.log.warn({ round, code, message: err.message }, 'update rejected');
  }

  private onUpdate(socket: Socket, participantId: string, joined: boolean, raw: unknown): void {
    let round: number | null = null;
    let bytes = 0;
    try {
      if (!joined) throw new FlockError('not-selected', 'send join before any update');
      // Under secure aggregation the coordinator never takes an update in the clear, not even to decode it.
      if (this.config.secureAggregation) throw new FlockError('unsupported-format', 'this coordinator runs secure aggregation: send masked input (secagg:* messages), never a plain update');
      const payload = UpdatePayloadSchema.safeParse(raw);
      if (!payload.success) throw new FlockError('malformed', 'update must be one binary argument (an encoded ModelUpdate)');
      const body = payload.data instanceof Uint8Array ? payload.data : new Uint8Array(payload.data);
      bytes = body.byteLength;
      if (bytes > this.maxUpdateBytes) throw new FlockError('too-large', `update of ${bytes} bytes exceeds ${this.maxUpdateBytes}`);
      // The round number is in the header: a late update (the normal fate of over-selected
      // participants) is refused before its tensors are decoded.
      round = peekUpdateRound(body);
      const open = this.open;
      if (!open || this.closing || round !== open.round) {
        const code = round <= this.roundCounter ? 'late' : 'wrong-round';
        throw new FlockError(code, `round ${round} is not open (current round ${this.roundCounter}, ${open && !this.closing ? 'open' : 'closed'})`);
      }
      // Views into the received bytes, no copy: add() keeps nothing of the update's arrays.
      const update = decodeUpdate(body, { maxBytes: this.maxUpdateBytes, views: true });
      if (!open.selected.has(participantId)) throw new FlockError('not-selected', `this participant was not selected for round ${open.round}`);
      if (open.reported.has(participantId)) throw new FlockError('duplicate', `an update for round ${open.round} was already accepted from this participant`);
      if (update.baseVersion !== open.baseVersion) throw new FlockError('wrong-version', `round ${open.round} trains on version ${open.baseVersion}, update is based on ${update.baseVersion}`);
      // Only the encodings this round offered ('malformed' otherwise; nothing changes).
      checkUpdateEncodings(update.tensors, open.encodings);
      // validate → weight → bound → combine; throws (and changes nothing) on a bad update.
      open.aggregation.add(update);
      open.reported.add(participantId);
      open.examples += update.numExamples;
      open.normSum += update.preClipNorm;
      this.observer.updateAccepted(this.descriptor.kind, bytes);
      socket.emit(EVENTS.updateAck, { round: open.round, received: open.reported.size });
      this.closeIfDone();
    } catch (err) {
      if (err instanceof FlockError) this.reject(socket, round, err, bytes);
      else throw err;
    }
  }

  /**
   * Tries to open a round once the pacing clock allows (round-pacing.ts: `roundDelayMs`
   * from now, `roundIntervalMs` after the last opening); joins, eligibility changes and
   * closed rounds call it again.
   */
  private scheduleRound(): void {
    if (this.stopped || this.open || this.closing || this.startTimer) return;
    if (this.config.maxRounds > 0 && this.roundCounter >= this.config.maxRounds) return;
    const now = Date.now();
    this.waitUntil(nextRoundAt(now, this.lastOpenedAt, this.config));
  }

  /** Starts the round at wall-clock time `due` (a timer may fire a millisecond early by Date.now(): wait again). */
  private waitUntil(due: number): void {
    this.startTimer = setTimeout(() => {
      this.startTimer = null;
      if (this.stopped) return;
      if (Date.now() < due) return this.waitUntil(due);
      this.guarded('start round', () => this.startRound());
    }, Math.max(0, due - Date.now()));
  }

  /** A secagg:* message: handed to the open round's SecureRound; refused (typed, nothing changes) otherwise. */
  private onSecAgg(socket: Socket, participantId: string, joined: boolean, event: string, raw: unknown): void {
    const open = this.open;
    const live = open?.secure && !this.closing ? open : null;
    try {
      if (!joined) throw new FlockError('not-selected', `send join before ${event}`);
      if (!live?.secure) throw new FlockError('late', `${event}: no securely aggregated round is open (last round ${this.roundCounter})`);
      live.secure.receive(event, participantId, raw);
    } catch (err) {
      if (!(err instanceof FlockError)) throw err;
      if (live) live.rejected++;
      socket.emit(EVENTS.secaggRejected, secAggRejection(live?.round ?? null, err));
      this.log.warn({ round: live?.round ?? null, event, code: err.code, message: err.message }, 'secure aggregation message refused');
    }
  }

  /** The secure round has its sum (or cannot get one): fold it in and close the round. */
  private onSecureEnd(open: OpenRound, end: SecureRoundEnd): void {
    if (this.open !== open || this.closing || !open.secure) return;
    open.secureRelease = new SecureSumRelease(this.spec, end.ok ? end.sum : null, open.secure.params.clipBound, this.dp?.roundDp());
    if (!end.ok) open.reported.clear(); // nothing of them is in an aggregate
    this.requestClose(end.ok && end.sum.summands === open.selected.size ? 'target' : 'nobody-left');
  }

  private startRound(): void {
    if (this.stopped || this.open || this.closing || this.growing) return;
    // Under DP whether a round opens must not depend on anyone's data: no data gate (round-pacing.ts).
    const decision = decideRound(this.clients.values(), this.config.minClients, !this.dp);
    if (!decision.open) {
      if (this.hold !== decision.hold) {
        this.hold = decision.hold;
        this.log.info({ hold: decision.hold, eligible: decision.eligible, withNewData: decision.withNewData, version: this.version }, decision.hold === 'nothing-new' ? 'round not opened: no eligible participant has anything new to learn from' : `round not opened: ${decision.eligible} eligible of ${this.config.minClients} needed`);
      }
      return;
    }
    this.hold = null;
    const eligible = decision.pool;
    const round = this.roundCounter + 1;
    let size: RoundSize;
    let selected: string[];
    if (this.dp) {
      const budget = this.dp.check();
      if (!budget.ok) {
        // Not opened, not charged; the last model stays served. Said once.
        if (!this.refusalLogged) {
          const s = this.dp.spent;
          this.log.warn({ epsilon: s.epsilon, epsilonBudget: this.dp.plan.epsilonBudget, rounds: s.rounds, roundBudget: this.dp.plan.rounds, version: this.version }, `privacy budget exhausted: no more rounds (${budget.reason}); serving version ${this.version} from now on`);
          this.refusalLogged = true;
        }
        return;
      }
      // Poisson sampling: each eligible participant independently with probability q, the
      // accountant's rate, drawn from the CSPRNG. Every drawn round is released and charged,
      // even one that sampled nobody or to which nobody reports (the noise alone): skipping
      // it would reveal that nobody came, which the accountant does not cover. So no quorum.
      selected = poissonSample(eligible, this.dp.plan.samplingRate, this.sampling);
      size = { target: selected.length, selected: selected.length, needed: 0 };
    } else {
      size = roundSize(eligible.length, this.config);
      selected = sampleParticipants(eligible, 0, size.selected, deriveSeed(this.config.seed, round));
    }
    const sa = this.config.secureAggregation;
    // A secure sum needs two at least: without DP take two; under DP one sampled alone is left out (the noise alone is released).
    if (sa && selected.length < 2) selected = this.dp ? [] : sampleParticipants(eligible, 0, Math.min(2, eligible.length), deriveSeed(this.config.seed, round));
    const settings = this.settings;
    const now = Date.now();
    const deadline = now + this.config.roundTimeoutMs;
    let secure: SecureRound | undefined;
    if (sa && selected.length >= 2) {
      const params = secureRoundParams({ spec: this.spec, round, version: this.version, participants: selected, clipNorm: settings.clipNorm, dropoutFraction: sa.dropoutFraction });
      // Four phases share the round's time; the engine's own deadline below is only a backstop.
      secure = new SecureRound({
        round, params, phaseMs: this.config.roundTimeoutMs / 4, log: this.log,
        socketOf: (id) => this.clients.get(id)?.socket,
        onMaskedInput: (id, bytes) => {
          this.open?.reported.add(id);
          this.observer.updateAccepted(this.descriptor.kind, bytes);
          this.clients.get(id)?.socket.emit(EVENTS.updateAck, { round, received: this.open?.reported.size ?? 0 });
        },
        onEnd: (end) => this.onSecureEnd(open, end),
      });
    }
    this.roundCounter = round;
    this.lastOpenedAt = now;
    this.open = {
      round,
      baseVersion: this.version,
      target: size.target,
      needed: secure && !this.dp ? Math.max(2, size.needed) : size.needed,
      selected: new Set(selected),
      reported: new Set(),
      departed: new Set(),
      aggregation: new RoundAggregation(this.spec, this.aggregation, { maxUpdates: Math.max(1, selected.length), ...(this.dp ? { dp: this.dp.roundDp() } : {}) }),
      startedAt: now,
      deadline,
      timer: setTimeout(() => this.requestClose('deadline'), this.config.roundTimeoutMs * (secure ? 1.25 : 1)),
      graceTimer: null,
      rejected: 0,
      encodings: settings.updateEncodings ?? DEFAULT_UPDATE_ENCODINGS,
      examples: 0,
      normSum: 0,
      ...(secure ? { secure } : {}),
    };
    const open = this.open;
    const announce: RoundStartMessage = {
      round,
      version: this.version,
      deadline,
      config: { ...settings, seed: deriveSeed(this.config.seed, round, 1) },
      ...(secure ? { secureAggregation: { ...secure.params, participants: [...secure.params.participants] } } : {}),
    };
    for (const id of selected) this.clients.get(id)?.socket.emit(EVENTS.roundStart, announce);
    this.log.info({ round, version: this.version, selected: selected.length, target: size.target, eligible: decision.eligible, pool: eligible.length, ...(this.dp ? { clipNorm: settings.clipNorm } : {}) }, 'round opened');
    if (selected.length === 0) this.closeIfDone(); // under DP: released at once, the noise alone
  }

  /**
   * Closes the open round when its target is in, or when nobody selected is left to
   * wait for; once it has its quorum, starts the stragglers' grace period.
   */
  private closeIfDone(): void {
    const open = this.open;
    if (!open || this.closing || open.secure) return; // a secure round closes when its phases end (onSecureEnd)
    const received = open.reported.size;
    const waitingFor = open.selected.size - received - open.departed.size;
    if (received >= open.target) return this.requestClose('target');
    if (waitingFor <= 0) return this.requestClose('nobody-left');
    if (received >= open.needed && !open.graceTimer) {
      const grace = Math.max(this.config.stragglerGraceMs, Date.now() - open.startedAt);
      // setImmediate: updates already received by the socket layer when the timer fires are still folded in.
      open.graceTimer = setTimeout(() => setImmediate(() => this.requestClose('stragglers-dropped')), grace);
    }
  }

  private serverStateFile(version: number, round: number): WeightsFile {
    const tensors = Object.entries(this.optimizer.state()).map(([name, data]) => ({ name, shape: [data.length], data }));
    return { version, round, modelKind: serverStateTag(this.spec.kind, this.optimizer.config.kind), tensors };
  }

  /**
   * Server step on the round's combined update and an atomic save; the in-memory model
   * changes only once the save succeeded. Under DP the release (noised once) is charged
   * to the budget only then, with the privacy record saved in the same version.
   */
  private async publish(open: OpenRound): Promise<{ version: number; dp?: Record<string, number> }> {
    const before = this.optimizer.state();
    const combined = open.secureRelease ?? open.aggregation;
    const next = this.optimizer.step(this.globals, combined.result());
    const release = combined.dpRelease();
    // Above every version on disk, even ones moved aside as damaged: versions only move forward.
    const newVersion = Math.max(this.version + 1, this.store.nextVersion());
    const charge = this.dp && release ? this.dp.prepareRelease(release, newVersion, open.round) : undefined;
    try {
      await this.store.save(
        { version: newVersion, round: open.round, modelKind: this.spec.kind, tensors: toWireTensors(this.spec, next) },
        this.optimizer.config.kind === 'sgd' ? undefined : this.serverStateFile(newVersion, open.round),
        charge?.record,
      );
    } catch (err) {
      this.optimizer.loadState(before); // the version was not written: neither was this step, nor its privacy charge
      throw err;
    }
    this.globals = next;
    this.version = newVersion;
    // Nobody has trained on the new version yet: everyone has something new (training-need.ts).
    for (const c of this.clients.values()) c.hasNewData = true;
    if (!charge || !release || !this.dp) return { version: newVersion };
    const spent = charge.commit();
    return {
      version: newVersion,
      dp: {
        epsilon: spent.epsilon,
        epsilonBudget: this.dp.plan.epsilonBudget,
        dpRounds: spent.rounds,
        roundBudget: this.dp.plan.rounds,
        noiseStd: release.noiseStd,
        clipNorm: release.clipNorm,
        ...(release.nextClipNorm !== undefined ? { nextClipNorm: release.nextClipNorm, noisedFractionBelow: release.noisedFractionBelow ?? NaN } : {}),
      },
    };
  }

  private requestClose(why: CloseReason): void {
    this.inFlightClose = this.closeRound(why).catch((err: unknown) => this.log.error({ err }, 'closing a round failed'));
  }

  private async closeRound(why: CloseReason): Promise<void> {
    const open = this.open;
    if (!open || this.closing || this.stopped) return; // stopped: the round in flight is abandoned, the model stays as saved
    this.closing = true;
    clearTimeout(open.timer);
    open.secure?.abort();
    if (open.graceTimer) clearTimeout(open.graceTimer);
    const received = open.reported.size;
    let newVersion: number | null = null;
    let dpLog: Record<string, number> | undefined;
    let outcome: RoundOutcome = 'quorum-missed';
    let error: string | undefined;
    try {
      if (received >= open.needed) {
        const published = await this.publish(open);
        newVersion = published.version;
        dpLog = published.dp;
        outcome = 'aggregated';
      }
    } catch (err) {
      outcome = 'failed';
      error = err instanceof Error ? err.message : String(err);
      this.log.error({ err, round: open.round }, 'round failed while closing; the model is unchanged and rounds go on');
    }
    const record: RoundRecord = {
      round: open.round,
      baseVersion: open.baseVersion,
      newVersion,
      outcome,
      selected: open.selected.size,
      target: open.target,
      received,
      rejected: open.rejected,
      dropped: open.selected.size - received,
      examples: open.examples,
      meanPreClipNorm: received > 0 && !open.secure ? open.normSum / received : null,
      startedAt: open.startedAt,
      closedAt: Date.now(),
      closedBy: why,
      ...(error === undefined ? {} : { error: error.slice(0, 500) }),
    };
    try {
      this.observer.roundClosed(this.descriptor.kind, outcome, (record.closedAt - record.startedAt) / 1000);
      await this.store.appendRound(record);
      if (newVersion !== null) {
        this.io.emit(EVENTS.modelVersion, { version: newVersion, round: open.round });
        if (dpLog) {
          this.log.info({ ...record, dp: dpLog }, `round aggregated; privacy spent ε = ${dpLog.epsilon.toFixed(3)} of ${dpLog.epsilonBudget.toFixed(3)}, ${dpLog.dpRounds} of ${dpLog.roundBudget} rounds`);
        } else this.log.info({ ...record }, 'round aggregated');
      } else if (outcome === 'quorum-missed') {
        this.log.warn({ ...record, needed: open.needed }, 'round closed without quorum; model unchanged');
      }
      // Only the round's own participants care how it went; everyone gets the new version above.
      for (const id of open.selected) this.clients.get(id)?.socket.emit(EVENTS.roundClosed, record);
    } catch (err) {
      this.log.error({ err, round: open.round }, 'could not record or announce a closed round');
    } finally {
      this.open = null;
      this.closing = false;
      this.applyPendingModel();
      this.scheduleRound();
    }
  }
}
