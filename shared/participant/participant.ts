import { io, type Socket } from 'socket.io-client';
import { initParams } from '../model/init-params.ts';
import { createModel, minInteractionsFor, type ModelDescriptor, type ModelKind } from '../model/model-registry.ts';
import type { RecommenderModel } from '../model/recommender-model.ts';
import {
  EVENTS,
  ModelVersionMessageSchema,
  ProtocolErrorMessageSchema,
  PROTOCOL_VERSION,
  RoundStartMessageSchema,
  UpdateAckMessageSchema,
  UpdateRejectedMessageSchema,
  WelcomeMessageSchema,
  type BackendName,
  type JoinMessage,
  type RoundStartMessage,
} from '../protocol/messages.ts';
import { modelNamespace, weightsApiPath } from '../protocol/model-routes.ts';
import { deriveSeed, hashString } from '../random/seeded-random.ts';
import type { NamedTensors } from '../tensor/named-tensors.ts';
import { trainLocally } from '../train/local-training.ts';
import { FOLD_IN, foldIn, foldInSeed } from '../train/fold-in.ts';
import { buildUpdate } from '../update/build-update.ts';
import { decodeWeights, encodeUpdate, fromWireTensors, toWireTensors } from '../update/tensor-codec.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import { historyFromInteractions } from './history.ts';
import type { ParticipantEvent, ParticipantState } from './participant-events.ts';
import type { CredentialSource } from './credential-source.ts';
import type { ParticipantStore } from './participant-store.ts';
import { SerialQueue } from './serial-queue.ts';

export type { ParticipantEvent, ParticipantState } from './participant-events.ts';

export interface ParticipantOptions {
  /** Coordinator origin, e.g. http://127.0.0.1:8080 */
  readonly serverUrl: string;
  /** The model this participant trains: it joins that model's rounds on the coordinator. */
  readonly model: ModelKind;
  /**
   * A key that never leaves the device, seeding this participant's local randomness
   * (its initial user vector, negative sampling). The identity the coordinator knows
   * comes from `credentials`, not from this.
   */
  readonly seedKey: string;
  /** The signed credential the socket handshake carries (shared by a device's participants). */
  readonly credentials: CredentialSource;
  readonly store: ParticipantStore;
  /**
   * Queue for TensorFlow.js work, shared by the participants of one device so that
   * training and scoring of different models never overlap; a private one if absent.
   */
  readonly tfQueue?: SerialQueue;
  readonly backend: { readonly name: BackendName; readonly reason: string };
  readonly onEvent?: (e: ParticipantEvent) => void;
  /** Local fold-in epochs run before recommending (fits the person's own embedding). */
  readonly foldInEpochs?: number;
  /**
   * Research only (poisoning experiments of the socket fleet): replaces the clipped
   * honest update before it is sent, as a malicious client would. Never set in the web app.
   */
  readonly updateMod?: UpdateMod;
  /**
   * How embedding tables go on the wire (build-update.ts): 'when-smaller' (default) sends
   * only the touched rows when that is smaller; 'dense' forces every row. Both reveal the
   * same touched set to the coordinator (THREAT-MODEL.md).
   */
  readonly updateRows?: 'when-smaller' | 'dense';
}

/** What a (simulated) malicious participant sends instead of its clipped honest Δ. */
export type UpdateMod = (honest: NamedTensors, clipNorm: number) => { delta: NamedTensors; numExamples: number };

/**
 * The participant loop for one model, written once for the browser and the Node fleet:
 * connect → join → (round:start → fetch weights of v → train → Δ, clip, encode → send)*,
 * with socket.io's reconnection (exponential backoff) and an outbox for updates
 * computed while offline. TensorFlow.js work is serialised so training and on-device
 * recommendation never run at the same time.
 */
export class Participant {
  readonly state: ParticipantState = {
    connected: false,
    version: null,
    roundsJoined: 0,
    lastLoss: null,
    bytesSent: 0,
    updatesSent: 0,
    lastRejection: null,
  };
  private socket: Socket | null = null;
  private descriptor: ModelDescriptor | null = null;
  private model: RecommenderModel | null = null;
  private globals: NamedTensors | null = null;
  private readonly tfQueue: SerialQueue;
  private readonly seed: number;
  private unauthorizedRetries = 0;

  constructor(private readonly opts: ParticipantOptions) {
    this.seed = hashString(opts.seedKey);
    this.tfQueue = opts.tfQueue ?? new SerialQueue();
  }

  start(): void {
    if (this.socket) return;
    // One namespace per model; socket.io multiplexes them over one connection per origin.
    const socket = io(`${this.opts.serverUrl}${modelNamespace(this.opts.model)}`, {
      transports: ['websocket'],
      reconnectionDelay: 250,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
      // Called at every (re)connection: the handshake carries the current credential.
      auth: (cb) => {
        this.opts.credentials.get().then(
          (token) => cb({ token }),
          (err: unknown) => {
            this.emit({ type: 'error', message: `no credential: ${err instanceof Error ? err.message : String(err)}` });
            cb({});
          },
        );
      },
    });
    this.socket = socket;
    socket.on('connect', () => void this.onConnect());
    // The coordinator refused the credential (rotated key, expired, another coordinator): get a new one and retry once per refusal.
    socket.on('connect_error', (err: Error & { data?: { code?: string } }) => {
      if (err.data?.code !== 'unauthorized') return; // transport errors: socket.io retries with backoff
      this.guard(async () => {
        await this.opts.credentials.renew();
        if (this.socket === socket) setTimeout(() => socket.connect(), this.unauthorizedRetries++ === 0 ? 0 : 5000);
      });
    });
    socket.on('disconnect', (reason) => {
      this.state.connected = false;
      this.emit({ type: 'disconnected', reason });
    });
    socket.on(EVENTS.welcome, (raw) => this.guard(async () => {
      const msg = WelcomeMessageSchema.parse(raw);
      if (msg.model.kind !== this.opts.model) throw new Error(`joined the ${this.opts.model} rounds but the coordinator describes a ${msg.model.kind} model`);
      this.useModel(msg.model);
      await this.ensureWeights(msg.version);
    }));
    socket.on(EVENTS.modelVersion, (raw) => this.guard(async () => {
      await this.ensureWeights(ModelVersionMessageSchema.parse(raw).version);
    }));
    socket.on(EVENTS.roundStart, (raw) => this.guard(() => this.runRound(RoundStartMessageSchema.parse(raw))));
    socket.on(EVENTS.updateAck, (raw) => {
      const msg = UpdateAckMessageSchema.parse(raw);
      this.state.roundsJoined++;
      this.emit({ type: 'ack', round: msg.round });
    });
    socket.on(EVENTS.updateRejected, (raw) => {
      const msg = UpdateRejectedMessageSchema.parse(raw);
      this.state.lastRejection = `${msg.code}: ${msg.message}`;
      this.emit({ type: 'rejected', round: msg.round, code: msg.code, message: msg.message });
    });
    socket.on(EVENTS.protocolError, (raw) => {
      const msg = ProtocolErrorMessageSchema.safeParse(raw);
      const code = msg.success ? msg.data.code : 'malformed';
      const message = msg.success ? msg.data.message : 'unreadable protocol error';
      // Another connection of this participant took over (a second device session): stand down, don't fight it.
      if (code === 'replaced') this.emit({ type: 'replaced', message });
      else this.emit({ type: 'error', message: `${code}: ${message}` });
    });
  }

  stop(): void {
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = null;
    this.state.connected = false;
  }

  /** Tell the coordinator whether this person now has enough data to train this model on. */
  async interactionsChanged(): Promise<void> {
    this.socket?.emit(EVENTS.eligibility, { eligible: await this.isEligible() });
  }

  /** Enough interactions for this model to learn from (an update with no examples is never sent). */
  private async isEligible(): Promise<boolean> {
    return (await this.opts.store.getInteractions()).length >= minInteractionsFor(this.opts.model);
  }

  /**
   * Top-k unseen items for this person, scored on this device, and the global version
   * they were scored with (items [] and version null before weights arrive).
   */
  async recommend(k: number): Promise<{ items: number[]; version: number | null }> {
    return this.tfQueue.run(async () => {
      const { model, globals } = this;
      const version = this.state.version;
      if (!model || !globals) return { items: [], version: null };
      const history = historyFromInteractions(await this.opts.store.getInteractions());
      const locals = await this.fittedLocals(model, globals, history);
      const scores = model.scoreAll(globals, locals, history);
      const seen = new Set(history);
      const ranked: number[] = [];
      for (let i = 0; i < scores.length; i++) if (!seen.has(i)) ranked.push(i);
      ranked.sort((a, b) => scores[b] - scores[a] || a - b);
      return { items: ranked.slice(0, k), version };
    });
  }

  /**
   * What scoring elsewhere needs (the web app's scoring worker): the global weights, the
   * person's LOCAL parameters fitted to their history (fold-in done and stored), the
   * history and the version; null before weights arrive.
   */
  async scoringInputs(): Promise<{ globals: NamedTensors; locals: NamedTensors; history: Int32Array; version: number } | null> {
    return this.tfQueue.run(async () => {
      const { model, globals } = this;
      const version = this.state.version;
      if (!model || !globals || version === null) return null;
      const history = historyFromInteractions(await this.opts.store.getInteractions());
      return { globals, locals: await this.fittedLocals(model, globals, history), history, version };
    });
  }

  /** The person's LOCAL parameters folded in to their history against these globals (and stored). */
  private async fittedLocals(model: RecommenderModel, globals: NamedTensors, history: Int32Array): Promise<NamedTensors> {
    const locals = await this.localParams(model);
    if (history.length === 0 || (this.opts.foldInEpochs ?? 5) <= 0) return locals;
    const cfg = { ...FOLD_IN, localEpochs: this.opts.foldInEpochs ?? FOLD_IN.localEpochs };
    const fitted = await foldIn(model, globals, locals, history, foldInSeed(this.seed, history.length), cfg);
    await this.opts.store.putLocal(model.spec.kind, fitted.locals);
    return fitted.locals;
  }

  /** The model this participant trains ('mf' or 'sasrec'). */
  get modelKind(): ModelKind {
    return this.opts.model;
  }

  /** The global version the participant currently holds (null before the first). */
  get version(): number | null {
    return this.state.version;
  }

  private async onConnect(): Promise<void> {
    this.state.connected = true;
    this.emit({ type: 'connected' });
    this.unauthorizedRetries = 0;
    const join: JoinMessage = {
      protocolVersion: PROTOCOL_VERSION,
      backend: this.opts.backend.name,
      eligible: await this.isEligible(),
    };
    this.socket?.emit(EVENTS.join, join);
    // Updates computed while offline: send them; the coordinator rejects stale ones as 'late'.
    for (const entry of await this.opts.store.takeOutbox(this.opts.model)) this.send(entry.round, entry.bytes);
  }

  private useModel(d: ModelDescriptor): void {
    const same = this.descriptor && JSON.stringify(this.descriptor) === JSON.stringify(d);
    if (same) return;
    this.descriptor = d;
    this.model = createModel(d);
    this.globals = null;
    this.state.version = null;
  }

  private async ensureWeights(version: number): Promise<NamedTensors> {
    if (this.globals && this.state.version === version) return this.globals;
    let weights = await this.opts.store.getWeights(this.opts.model, version);
    if (!weights) {
      const res = await fetch(`${this.opts.serverUrl}${weightsApiPath(this.opts.model, version)}`);
      if (!res.ok) throw new Error(`fetching ${this.opts.model} weights v${version}: HTTP ${res.status}`);
      const file = decodeWeights(new Uint8Array(await res.arrayBuffer()));
      if (file.modelKind !== this.opts.model) throw new Error(`asked for ${this.opts.model} weights, got ${file.modelKind}`);
      weights = fromWireTensors(file.tensors);
      await this.opts.store.putWeights(this.opts.model, version, weights);
    }
    if (this.state.version === null || version >= this.state.version) {
      this.globals = weights;
      this.state.version = version;
      this.emit({ type: 'model', version });
    }
    return weights;
  }

  private async localParams(model: RecommenderModel): Promise<NamedTensors> {
    return (await this.opts.store.getLocal(model.spec.kind)) ?? initParams(model.spec, 'local', this.seed);
  }

  private async runRound(msg: RoundStartMessage): Promise<void> {
    this.emit({ type: 'round-start', round: msg.round, version: msg.version });
    const base = await this.ensureWeights(msg.version);
    await this.tfQueue.run(async () => {
      const model = this.model;
      if (!model) throw new Error('round announced before the model was described');
      const history = historyFromInteractions(await this.opts.store.getInteractions());
      if (history.length < minInteractionsFor(this.opts.model)) return; // not eligible: the coordinator should not have asked
      const { config } = msg;
      const seed = deriveSeed(config.seed, msg.round, this.seed);
      const result = await trainLocally(model, base, await this.localParams(model), history, config, seed);
      await this.opts.store.putLocal(model.spec.kind, result.locals);
      if (result.numExamples < 1) return; // nothing learned: an empty update would only be refused
      const update = buildUpdate(model.spec, result.globals, base, {
        round: msg.round,
        baseVersion: msg.version,
        numExamples: result.numExamples,
        clipNorm: config.clipNorm,
        rows: this.opts.updateRows ?? 'when-smaller',
      });
      const bytes = this.opts.updateMod ? this.modified(model.spec, update.delta, msg, update.preClipNorm) : update.bytes;
      this.state.lastLoss = result.loss;
      this.emit({ type: 'trained', round: msg.round, loss: result.loss, numExamples: result.numExamples, preClipNorm: update.preClipNorm, clipped: update.clipped });
      // Stopped (the person opted out, or another tab took over) while training: the update is dropped, never queued.
      if (!this.socket) return;
      if (this.socket.connected) this.send(msg.round, bytes);
      else {
        await this.opts.store.putOutbox({ modelKind: this.opts.model, round: msg.round, baseVersion: msg.version, bytes, createdAt: Date.now() });
        this.emit({ type: 'queued', round: msg.round });
      }
    });
  }

  private modified(spec: ModelSpec, honest: NamedTensors, msg: RoundStartMessage, preClipNorm: number): Uint8Array {
    const { delta, numExamples } = this.opts.updateMod!(honest, msg.config.clipNorm);
    return encodeUpdate({ round: msg.round, baseVersion: msg.version, numExamples, preClipNorm, tensors: toWireTensors(spec, delta) });
  }

  private send(round: number, bytes: Uint8Array): void {
    this.socket?.emit(EVENTS.update, bytes);
    this.state.bytesSent += bytes.byteLength;
    this.state.updatesSent++;
    this.emit({ type: 'sent', round, bytes: bytes.byteLength });
  }

  private guard(fn: () => Promise<void>): void {
    fn().catch((err: unknown) => this.emit({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
  }

  private emit(e: ParticipantEvent): void {
    this.opts.onEvent?.(e);
  }
}
