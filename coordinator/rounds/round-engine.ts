import type { Logger } from 'pino';
import type { Namespace, Socket } from 'socket.io';
import { createServerOptimizer, type ServerOptimizer } from '../../shared/aggregate/server-optimizer.ts';
import { StreamingWeightedMean } from '../../shared/aggregate/streaming-weighted-mean.ts';
import { FlockError } from '../../shared/errors.ts';
import type { ModelDescriptor } from '../../shared/model/model-registry.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import {
  EligibilityMessageSchema,
  EVENTS,
  JoinMessageSchema,
  PROTOCOL_VERSION,
  RejectionCodeSchema,
  UpdatePayloadSchema,
  type RoundConfig,
  type RoundRecord,
  type RoundStartMessage,
  type UpdateRejectedMessage,
  type WelcomeMessage,
} from '../../shared/protocol/messages.ts';
import { deriveSeed } from '../../shared/random/seeded-random.ts';
import { elementCount, type NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { checkUpdateAgainstSpec } from '../../shared/update/check-update.ts';
import { decodeUpdate, toWireTensors, type WeightsFile } from '../../shared/update/tensor-codec.ts';
import { roundSettings, type ServeConfig } from '../serve-config.ts';
import type { CheckpointStore } from '../store/checkpoint-store.ts';
import { sampleParticipants } from './sample-participants.ts';

interface ConnectedClient {
  readonly socket: Socket;
  readonly clientId: string;
  readonly backend: string;
  eligible: boolean;
}

interface OpenRound {
  readonly round: number;
  readonly baseVersion: number;
  readonly selected: ReadonlySet<string>;
  readonly reported: Set<string>;
  readonly accumulator: StreamingWeightedMean;
  readonly startedAt: number;
  readonly deadline: number;
  readonly timer: NodeJS.Timeout;
  rejected: number;
  examples: number;
  normSum: number;
}

export interface EngineState {
  readonly version: number;
  readonly round: number;
  readonly globals: NamedTensors;
  /** The server optimizer's state saved with `version` (absent: fresh moments). */
  readonly serverState?: NamedTensors;
}

/** The modelKind tag of a server-optimizer state file, so a state is only loaded into its own kind. */
export const serverStateTag = (modelKind: string, optimizer: string): string => `${modelKind}/server-${optimizer}`;

/**
 * The coordinator's round loop (DESIGN.md, "The data path"): sample participants among
 * the connected eligible clients, announce, validate and fold each update into a
 * streaming weighted mean (memory O(model)), and at quorum or deadline publish the next
 * version atomically and broadcast it. The only mutable model state in Flock lives here.
 */
export class RoundEngine {
  private readonly clients = new Map<string, ConnectedClient>(); // by clientId
  private open: OpenRound | null = null;
  private closing = false;
  private startTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private version: number;
  private roundCounter: number;
  private globals: NamedTensors;
  private readonly maxUpdateBytes: number;
  private readonly roundConfig: Omit<RoundConfig, 'seed'>;
  private readonly optimizer: ServerOptimizer;

  /** `io` is this model's own namespace: one engine per federated model. */
  constructor(
    private readonly io: Namespace,
    private readonly store: CheckpointStore,
    private readonly spec: ModelSpec,
    private readonly descriptor: ModelDescriptor,
    private readonly config: ServeConfig,
    private readonly log: Logger,
    initial: EngineState,
  ) {
    this.version = initial.version;
    this.roundCounter = initial.round;
    this.globals = initial.globals;
    this.roundConfig = roundSettings(config, descriptor.kind);
    this.optimizer = createServerOptimizer({ ...config.serverOptimizer, learningRate: config.serverLearningRate });
    if (initial.serverState) this.optimizer.loadState(initial.serverState);
    const floats = spec.params.reduce((n, p) => n + elementCount(p.shape), 0);
    this.maxUpdateBytes = floats * 8 + 64 * 1024;
    io.on('connection', (socket) => this.onConnection(socket));
  }

  get currentVersion(): number {
    return this.version;
  }
  get currentRound(): number {
    return this.roundCounter;
  }
  get connectedClients(): number {
    return this.clients.size;
  }
  /** What this model's rounds ask of participants (the seed differs per round). */
  get settings(): Omit<RoundConfig, 'seed'> {
    return this.roundConfig;
  }

  stop(): void {
    this.stopped = true;
    if (this.startTimer) clearTimeout(this.startTimer);
    if (this.open) clearTimeout(this.open.timer);
  }

  private onConnection(socket: Socket): void {
    let clientId: string | null = null;
    socket.on(EVENTS.join, (raw: unknown) => {
      const parsed = JoinMessageSchema.safeParse(raw);
      if (!parsed.success) return this.protocolError(socket, 'malformed', `join: ${parsed.error.issues[0]?.message}`);
      const join = parsed.data;
      if (join.protocolVersion !== PROTOCOL_VERSION) {
        this.protocolError(socket, 'protocol-mismatch', `client speaks protocol ${join.protocolVersion}, coordinator ${PROTOCOL_VERSION}: reload the page`);
        socket.disconnect(true);
        return;
      }
      clientId = join.clientId;
      const previous = this.clients.get(clientId);
      if (previous && previous.socket.id !== socket.id) previous.socket.disconnect(true);
      this.clients.set(clientId, { socket, clientId, backend: join.backend, eligible: join.eligible });
      this.log.info({ model: this.descriptor.kind, clientId, backend: join.backend, reason: join.backendReason, eligible: join.eligible }, 'client joined');
      const welcome: WelcomeMessage = { protocolVersion: PROTOCOL_VERSION, clientId, model: this.descriptor, version: this.version };
      socket.emit(EVENTS.welcome, welcome);
      this.scheduleRound();
    });
    socket.on(EVENTS.eligibility, (raw: unknown) => {
      const parsed = EligibilityMessageSchema.safeParse(raw);
      const client = clientId ? this.clients.get(clientId) : undefined;
      if (!parsed.success || !client) return;
      client.eligible = parsed.data.eligible;
      this.scheduleRound();
    });
    socket.on(EVENTS.update, (raw: unknown) => {
      void this.onUpdate(socket, clientId, raw).catch((err) => this.log.error({ err }, 'update handling failed'));
    });
    socket.on('disconnect', (reason) => {
      if (clientId && this.clients.get(clientId)?.socket.id === socket.id) this.clients.delete(clientId);
      this.log.info({ model: this.descriptor.kind, clientId, reason }, 'client left');
      this.closeIfComplete();
    });
  }

  private protocolError(socket: Socket, code: string, message: string): void {
    socket.emit(EVENTS.protocolError, { code, message });
  }

  private reject(socket: Socket, round: number | null, err: FlockError): void {
    const code = RejectionCodeSchema.safeParse(err.code);
    const msg: UpdateRejectedMessage = { round, code: code.success ? code.data : 'malformed', message: err.message };
    socket.emit(EVENTS.updateRejected, msg);
    if (this.open && round === this.open.round) this.open.rejected++;
    this.log.warn({ model: this.descriptor.kind, round, code: msg.code, message: err.message }, 'update rejected');
  }

  private async onUpdate(socket: Socket, clientId: string | null, raw: unknown): Promise<void> {
    let round: number | null = null;
    try {
      if (!clientId) throw new FlockError('not-selected', 'send join before any update');
      const payload = UpdatePayloadSchema.safeParse(raw);
      if (!payload.success) throw new FlockError('malformed', 'update must be one binary argument (an encoded ModelUpdate)');
      const bytes = payload.data instanceof Uint8Array ? payload.data : new Uint8Array(payload.data);
      if (bytes.byteLength > this.maxUpdateBytes) throw new FlockError('too-large', `update of ${bytes.byteLength} bytes exceeds ${this.maxUpdateBytes}`);
      const update = decodeUpdate(bytes, { maxBytes: this.maxUpdateBytes });
      round = update.round;
      const open = this.open;
      if (!open || this.closing || update.round !== open.round) {
        const code = update.round <= this.roundCounter ? 'late' : 'wrong-round';
        throw new FlockError(code, `round ${update.round} is not open (current round ${this.roundCounter}, ${open && !this.closing ? 'open' : 'closed'})`);
      }
      if (!open.selected.has(clientId)) throw new FlockError('not-selected', `client was not selected for round ${open.round}`);
      if (open.reported.has(clientId)) throw new FlockError('duplicate', `an update for round ${open.round} was already accepted from this client`);
      if (update.baseVersion !== open.baseVersion) throw new FlockError('wrong-version', `round ${open.round} trains on version ${open.baseVersion}, update is based on ${update.baseVersion}`);
      const delta = checkUpdateAgainstSpec(this.spec, update, this.roundConfig.clipNorm);
      open.accumulator.add(delta, update.numExamples);
      open.reported.add(clientId);
      open.examples += update.numExamples;
      open.normSum += update.preClipNorm;
      socket.emit(EVENTS.updateAck, { round: open.round, received: open.reported.size });
      this.closeIfComplete();
    } catch (err) {
      if (err instanceof FlockError) this.reject(socket, round, err);
      else throw err;
    }
  }

  /** Opens a round soon if none is open and enough eligible clients are connected. */
  private scheduleRound(): void {
    if (this.stopped || this.open || this.closing || this.startTimer) return;
    if (this.config.maxRounds > 0 && this.roundCounter >= this.config.maxRounds) return;
    this.startTimer = setTimeout(() => {
      this.startTimer = null;
      this.startRound();
    }, this.config.roundDelayMs);
  }

  private startRound(): void {
    if (this.stopped || this.open || this.closing) return;
    const eligible = [...this.clients.values()].filter((c) => c.eligible).map((c) => c.clientId).sort();
    if (eligible.length < this.config.minClients) return;
    const round = this.roundCounter + 1;
    const selected = sampleParticipants(eligible, this.config.clientsPerRound, this.config.minPerRound, deriveSeed(this.config.seed, round));
    const now = Date.now();
    const deadline = now + this.config.roundTimeoutMs;
    this.roundCounter = round;
    this.open = {
      round,
      baseVersion: this.version,
      selected: new Set(selected),
      reported: new Set(),
      accumulator: new StreamingWeightedMean(this.spec, { rowNormalize: this.config.rowNormalize }),
      startedAt: now,
      deadline,
      timer: setTimeout(() => void this.closeRound('deadline'), this.config.roundTimeoutMs),
      rejected: 0,
      examples: 0,
      normSum: 0,
    };
    const announce: RoundStartMessage = {
      round,
      version: this.version,
      deadline,
      config: { ...this.roundConfig, seed: deriveSeed(this.config.seed, round, 1) },
    };
    for (const id of selected) this.clients.get(id)?.socket.emit(EVENTS.roundStart, announce);
    this.log.info({ model: this.descriptor.kind, round, version: this.version, selected: selected.length, eligible: eligible.length }, 'round opened');
  }

  /** Closes the open round once every selected client still connected has reported. */
  private closeIfComplete(): void {
    const open = this.open;
    if (!open || this.closing) return;
    const waiting = [...open.selected].filter((id) => !open.reported.has(id) && this.clients.has(id));
    if (waiting.length === 0) void this.closeRound('complete');
  }

  private serverStateFile(version: number, round: number): WeightsFile {
    const tensors = Object.entries(this.optimizer.state()).map(([name, data]) => ({ name, shape: [data.length], data }));
    return { version, round, modelKind: serverStateTag(this.spec.kind, this.optimizer.config.kind), tensors };
  }

  private async closeRound(why: 'complete' | 'deadline'): Promise<void> {
    const open = this.open;
    if (!open || this.closing) return;
    this.closing = true;
    clearTimeout(open.timer);
    try {
      const needed = Math.max(1, Math.ceil(this.config.quorum * open.selected.size));
      const received = open.reported.size;
      let newVersion: number | null = null;
      if (received >= needed) {
        const before = this.optimizer.state();
        const next = this.optimizer.step(this.globals, open.accumulator.mean());
        newVersion = this.version + 1;
        try {
          await this.store.save(
            { version: newVersion, round: open.round, modelKind: this.spec.kind, tensors: toWireTensors(this.spec, next) },
            this.optimizer.config.kind === 'sgd' ? undefined : this.serverStateFile(newVersion, open.round),
          );
        } catch (err) {
          this.optimizer.loadState(before); // the version was not written: neither was this step
          throw err;
        }
        this.globals = next;
        this.version = newVersion;
      }
      const record: RoundRecord = {
        round: open.round,
        baseVersion: open.baseVersion,
        newVersion,
        outcome: newVersion === null ? 'quorum-missed' : 'aggregated',
        selected: open.selected.size,
        received,
        rejected: open.rejected,
        examples: open.examples,
        meanPreClipNorm: received > 0 ? open.normSum / received : null,
        startedAt: open.startedAt,
        closedAt: Date.now(),
      };
      await this.store.appendRound(record);
      if (newVersion !== null) {
        this.io.emit(EVENTS.modelVersion, { version: newVersion, round: open.round });
        this.log.info({ model: this.descriptor.kind, ...record, why }, 'round aggregated');
      } else {
        this.log.warn({ model: this.descriptor.kind, ...record, why, needed }, 'round closed without quorum; model unchanged');
      }
      this.io.emit(EVENTS.roundClosed, record);
    } finally {
      this.open = null;
      this.closing = false;
      this.scheduleRound();
    }
  }
}
