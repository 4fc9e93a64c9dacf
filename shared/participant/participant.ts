import { io, type Socket } from 'socket.io-client';
import { initParams } from '../model/init-params.ts';
import { createModel, minInteractionsFor, type ModelDescriptor, type ModelKind } from '../model/model-registry.ts';
import type { RecommenderModel } from '../model/recommender-model.ts';
import {
  EVENTS,
  ModelInfoResponseSchema,
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
import { elementCount, type NamedTensors } from '../tensor/named-tensors.ts';
import { trainLocally, type LocalTrainingResult } from '../train/local-training.ts';
import { MfKernelTrainer, type LocalTrainer } from '../train/mf-kernel-local-training.ts';
import { FOLD_IN, foldIn, foldInSeed } from '../train/fold-in.ts';
import { buildUpdate } from '../update/build-update.ts';
import type { UniformRandom } from '../update/quantize-int8.ts';
import { chooseUpdateEncoding, UPDATE_ENCODINGS, type UpdateEncoding } from '../update/update-encoding.ts';
import { decodeWeights, encodeUpdate, fromWireTensors, maxEncodedUpdateBytes, toWireTensors } from '../update/tensor-codec.ts';
import type { ModelSpec } from '../model/model-spec.ts';
import { historyFromInteractions } from './history.ts';
import type { ParticipantEvent, ParticipantState, TrainingHold } from './participant-events.ts';
import type { CredentialSource } from './credential-source.ts';
import type { Contribution, ParticipantStore } from './participant-store.ts';
import { SerialQueue } from './serial-queue.ts';
import { SecAggSession } from './secagg-participant.ts';
import { dataFingerprint, hasNewData } from './training-need.ts';
import { budgetAllows, budgetFreesAt, checkUploadBudget, DEFAULT_UPLOAD_BUDGET_BYTES_PER_HOUR, UPLOAD_WINDOW_MS, uploadedInWindow } from './upload-budget.ts';

export type { ParticipantEvent, ParticipantState } from './participant-events.ts';

/** True when `weights` has every GLOBAL parameter of `spec` at its size (a version of this model's shape). */
const holdsSpec = (spec: ModelSpec, weights: NamedTensors): boolean =>
  spec.params.every((p) => p.scope !== 'global' || weights[p.name]?.length === elementCount(p.shape));

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
  /**
   * The update encodings this participant can send (default all: f32, f16, int8); each
   * round it sends the smallest of these the round accepts (update-encoding.ts).
   */
  readonly updateEncodings?: readonly UpdateEncoding[];
  /** Uniforms for int8's stochastic rounding (default: the platform CSPRNG; seeded only in research fleets). */
  readonly quantizeRandom?: UniformRandom;
  /**
   * Whether the device may train now; asked before each round and each standing report
   * (absent: always). The browser passes "the page is visible or the device is idle"
   * (document.visibilityState) and calls trainingConditionsChanged() when that changes.
   */
  readonly mayTrainNow?: () => boolean;
  /**
   * The upload budget (bytes per rolling hour) while the person has not set one in the
   * store; DEFAULT_UPLOAD_BUDGET_BYTES_PER_HOUR if absent. Simulated fleets, which are
   * not anyone's metered connection, pass MAX_UPLOAD_BUDGET_BYTES_PER_HOUR.
   */
  readonly defaultUploadBudget?: number;
  /**
   * Which code trains the MF model locally: 'tfjs' (default) TensorFlow.js on the active
   * backend; 'kernels' the typed-array kernels (shared/train/mf-kernel-local-training.ts:
   * WebAssembly SIMD, loaded asynchronously once, or JS), within 1e-5 per step of tfjs.
   * The web app picks 'kernels' on the wasm and cpu backends. SASRec always trains on tfjs.
   */
  readonly localTrainer?: 'tfjs' | 'kernels';
}

/** What the participant tells the coordinator about itself (shared/protocol/messages.ts, EligibilityMessage). */
interface Standing {
  readonly eligible: boolean;
  readonly hasNewData: boolean;
  readonly hold: TrainingHold | null;
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
    uploadBudgetBytesPerHour: DEFAULT_UPLOAD_BUDGET_BYTES_PER_HOUR, // the store's or the default, once restored
    uploadedLastHourBytes: 0,
    trainingHold: null,
    localTrainer: null,
  };
  private socket: Socket | null = null;
  /** Securely aggregated rounds on this socket (secagg-participant.ts). */
  private secagg: SecAggSession | null = null;
  /** The counters and budget loaded from the store (started by start()). */
  private restored: Promise<void> | null = null;
  /** Standing reports go out one at a time, in order, each computed when its turn comes. */
  private readonly standingQueue = new SerialQueue();
  /** Re-reports the standing when the upload budget frees up. */
  private budgetTimer: ReturnType<typeof setTimeout> | null = null;
  /** What each sent update was trained on, until the coordinator acknowledges it. */
  private readonly inFlight = new Map<number, { baseVersion: number; dataFingerprint: number }>();
  /** The last accepted update's contribution, until a version from its round is published. */
  private awaitingPublish: { round: number; contribution: Contribution } | null = null;
  private descriptor: ModelDescriptor | null = null;
  private model: RecommenderModel | null = null;
  private globals: NamedTensors | null = null;
  private readonly tfQueue: SerialQueue;
  private readonly seed: number;
  private unauthorizedRetries = 0;
  /** The MF kernels (localTrainer 'kernels'), loading from start() on. */
  private kernels: Promise<MfKernelTrainer> | null = null;

  constructor(private readonly opts: ParticipantOptions) {
    this.seed = hashString(opts.seedKey);
    this.tfQueue = opts.tfQueue ?? new SerialQueue();
  }

  /**
   * Connects and takes part in rounds. Resolves once the device's counters and upload
   * budget are loaded from the store into `state` (the connection goes on in the background).
   */
  start(): Promise<void> {
    this.restored ??= this.restore(); // once per participant: afterwards `state` and the store count together
    if (this.opts.localTrainer === 'kernels' && this.opts.model === 'mf') this.kernels ??= this.loadKernels();
    if (this.socket) return this.restored;
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
    this.secagg = new SecAggSession({ socket, model: this.opts.model, emit: (e) => this.emit(e), onSent: (round, bytes) => this.guard(() => this.countUpload(round, bytes)) });
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
      if (this.secagg) this.secagg.identity = msg.participantId;
      this.useModel(msg.model);
      await this.ensureWeights(msg.version);
    }));
    socket.on(EVENTS.modelVersion, (raw) => this.guard(async () => {
      const msg = ModelVersionMessageSchema.parse(raw);
      // The catalog changed: a new item count, features or retired items come with this version.
      if (msg.model?.kind === this.opts.model) this.useModel(msg.model);
      await this.ensureWeights(msg.version);
      // Recorded once the participant holds the newer version, so no standing is judged "nothing new" on the old one.
      const accepted = this.awaitingPublish;
      if (accepted && msg.round >= accepted.round) {
        this.awaitingPublish = null;
        if (msg.round === accepted.round) await this.opts.store.recordContribution(this.opts.model, accepted.contribution);
      }
    }));
    socket.on(EVENTS.roundStart, (raw) => this.guard(() => this.runRound(RoundStartMessageSchema.parse(raw))));
    socket.on(EVENTS.updateAck, (raw) => this.guard(async () => {
      const msg = UpdateAckMessageSchema.parse(raw);
      this.state.roundsJoined++;
      const contribution = this.inFlight.get(msg.round) ?? null;
      this.inFlight.delete(msg.round);
      // Learnt only once a version is published from this round: a round that then fails, or a
      // coordinator that restarts before writing it, has learnt nothing from it (training-need.ts).
      this.awaitingPublish = contribution ? { round: msg.round, contribution } : null;
      this.emit({ type: 'ack', round: msg.round });
      await this.reportStanding(); // up to date now, unless something changed meanwhile
    }));
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
    return this.restored;
  }

  stop(): void {
    if (this.budgetTimer) clearTimeout(this.budgetTimer);
    this.budgetTimer = null;
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = null;
    this.state.connected = false;
  }

  /** The person's interactions changed: tell the coordinator this participant's standing (enough data, something new). */
  async interactionsChanged(): Promise<void> {
    await this.reportStanding();
  }

  /** The answer of `mayTrainNow` may have changed (the page was hidden or shown): tell the coordinator. */
  async trainingConditionsChanged(): Promise<void> {
    await this.reportStanding();
  }

  /**
   * Sets the person's upload budget (bytes per rolling hour, every model of this device
   * together; checkUploadBudget: whole bytes, 0 … 1e9, else a 'bad-config' FlockError
   * and nothing changes). Kept in the store; applies from the next round on, here and in
   * the device's other participants (they read it from the store before each round).
   */
  async setUploadBudget(bytesPerHour: number): Promise<void> {
    checkUploadBudget(bytesPerHour);
    await this.opts.store.putUploadBudget(bytesPerHour);
    this.state.uploadBudgetBytesPerHour = bytesPerHour;
    await this.reportStanding();
  }

  /** Loads the device's counters for this model and the upload budget into `state`. */
  private async restore(): Promise<void> {
    const p = await this.opts.store.getParticipation(this.opts.model);
    this.state.roundsJoined = p.roundsJoined;
    this.state.bytesSent = p.bytesSent;
    this.state.updatesSent = p.updatesSent;
    await this.readBudget(Date.now());
  }

  /** Reads the budget and the last hour's uploads (all models) into `state`; returns the upload log of the hour. */
  private async readBudget(now: number) {
    const budget = (await this.opts.store.getUploadBudget()) ?? this.opts.defaultUploadBudget ?? DEFAULT_UPLOAD_BUDGET_BYTES_PER_HOUR;
    const log = await this.opts.store.getUploadLog(now - UPLOAD_WINDOW_MS);
    const used = uploadedInWindow(log, now);
    if (budget !== this.state.uploadBudgetBytesPerHour || used !== this.state.uploadedLastHourBytes) {
      this.state.uploadBudgetBytesPerHour = budget;
      this.state.uploadedLastHourBytes = used;
      this.emit({ type: 'budget', bytesPerHour: budget, usedLastHour: used });
    }
    return { budget, log };
  }

  /** The size the next update is expected to have: the last one's, else the model's largest. */
  private async nextUpdateBytes(): Promise<number> {
    const last = (await this.opts.store.getParticipation(this.opts.model)).lastUpdateBytes;
    return last ?? (this.model ? maxEncodedUpdateBytes(this.model.spec) : 0);
  }

  /**
   * Whether this participant takes part in rounds now (enough data, may train now,
   * within the upload budget) and has anything new (training-need.ts). Updates
   * state.trainingHold; while the budget holds it back, re-reports once it frees up.
   */
  private async standing(): Promise<Standing> {
    const now = Date.now();
    const interactions = await this.opts.store.getInteractions();
    const participation = await this.opts.store.getParticipation(this.opts.model);
    const { budget, log } = await this.readBudget(now);
    const next = await this.nextUpdateBytes();
    const enough = interactions.length >= minInteractionsFor(this.opts.model);
    const mayTrain = this.opts.mayTrainNow?.() ?? true;
    const withinBudget = budgetAllows(budget, log, next, now);
    const fresh = hasNewData(participation.lastContribution, dataFingerprint(interactions), this.state.version);
    const hold: TrainingHold | null = !enough ? 'not-enough-data' : !mayTrain ? 'not-now' : !withinBudget ? 'upload-budget' : !fresh ? 'up-to-date' : null;
    this.state.trainingHold = hold;
    if (this.budgetTimer) clearTimeout(this.budgetTimer);
    this.budgetTimer = null;
    const freesAt = hold === 'upload-budget' ? budgetFreesAt(budget, log, next, now) : null;
    if (freesAt !== null && this.socket) this.budgetTimer = setTimeout(() => this.guard(() => this.reportStanding()), Math.max(1000, freesAt - now));
    return { eligible: enough && mayTrain && withinBudget, hasNewData: fresh, hold };
  }

  /** Sends this participant's standing to the coordinator (in order, one at a time). */
  private reportStanding(): Promise<void> {
    return this.standingQueue.run(async () => {
      if (!this.socket?.connected) return;
      const s = await this.standing();
      this.socket?.emit(EVENTS.eligibility, { eligible: s.eligible, hasNewData: s.hasNewData });
      this.emit({ type: 'standing', ...s });
    });
  }

  /** Declines a round it was selected for: tells the coordinator (which stops waiting for it) and the shell. */
  private async decline(round: number, reason: TrainingHold): Promise<void> {
    this.emit({ type: 'declined', round, reason });
    await this.reportStanding();
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
      // Retired items are never recommended.
      const seen = new Set([...history, ...(this.descriptor?.retiredItems ?? [])]);
      const ranked: number[] = [];
      for (let i = 0; i < scores.length; i++) if (!seen.has(i)) ranked.push(i);
      ranked.sort((a, b) => scores[b] - scores[a] || a - b);
      return { items: ranked.slice(0, k), version };
    });
  }

  /**
   * What scoring elsewhere needs (the web app's scoring worker): the model's descriptor
   * (feature tower, retired items), the global weights, the person's LOCAL parameters fitted to their history (fold-in done and stored), the
   * history and the version; null before weights arrive.
   */
  async scoringInputs(): Promise<{ descriptor: ModelDescriptor; globals: NamedTensors; locals: NamedTensors; history: Int32Array; version: number } | null> {
    return this.tfQueue.run(async () => {
      const { model, globals, descriptor } = this;
      const version = this.state.version;
      if (!model || !globals || !descriptor || version === null) return null;
      const history = historyFromInteractions(await this.opts.store.getInteractions());
      return { descriptor, globals, locals: await this.fittedLocals(model, globals, history), history, version };
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
    await this.restored;
    const standing = await this.standing();
    const join: JoinMessage = {
      protocolVersion: PROTOCOL_VERSION,
      backend: this.opts.backend.name,
      eligible: standing.eligible,
      hasNewData: standing.hasNewData,
    };
    this.socket?.emit(EVENTS.join, join);
    // Updates computed while offline: send them (within the upload budget); the coordinator rejects stale ones as 'late'.
    for (const entry of await this.opts.store.takeOutbox(this.opts.model)) {
      const now = Date.now();
      const { budget, log } = await this.readBudget(now);
      if (budgetAllows(budget, log, entry.bytes.byteLength, now)) await this.send(entry.round, entry.bytes);
    }
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
    // A version of another shape (the catalog grew and the announcement was missed): the model as the coordinator describes it now.
    if (this.model && !holdsSpec(this.model.spec, weights)) await this.refreshDescriptor(version, weights);
    if (this.state.version === null || version >= this.state.version) {
      this.globals = weights;
      this.state.version = version;
      this.emit({ type: 'model', version });
      void this.reportStanding(); // a version it has not trained on: something new to learn
    }
    return weights;
  }

  /** Rebuilds the model from the coordinator's current descriptor when it fits `weights` of `version`; else a clear error. */
  private async refreshDescriptor(version: number, weights: NamedTensors): Promise<void> {
    const res = await fetch(`${this.opts.serverUrl}/api/models/${this.opts.model}`);
    if (!res.ok) throw new Error(`fetching the ${this.opts.model} model's description: HTTP ${res.status}`);
    const info = ModelInfoResponseSchema.parse(await res.json());
    const model = createModel(info.model);
    if (!holdsSpec(model.spec, weights)) throw new Error(`${this.opts.model} weights v${version} fit neither the model this page holds nor the coordinator's current one (v${info.version}); waiting for the next version`);
    this.useModel(info.model);
  }

  private async localParams(model: RecommenderModel): Promise<NamedTensors> {
    return (await this.opts.store.getLocal(model.spec.kind)) ?? initParams(model.spec, 'local', this.seed);
  }

  private async runRound(msg: RoundStartMessage): Promise<void> {
    this.emit({ type: 'round-start', round: msg.round, version: msg.version });
    // A securely aggregated round: keys go out at once, the update later as a masked input (never in the clear).
    const secure = this.secagg?.begin(msg) ?? null;
    const base = await this.ensureWeights(msg.version);
    await this.tfQueue.run(async () => {
      const model = this.model;
      const descriptor = this.descriptor;
      if (!model) throw new Error('round announced before the model was described');
      // Trains only with enough data, when it may (page visible or device idle), within the
      // upload budget and with something new to learn from; otherwise it says so and stays out.
      const standing = await this.standing();
      if (standing.hold) return this.decline(msg.round, standing.hold);
      const interactions = await this.opts.store.getInteractions();
      const history = historyFromInteractions(interactions);
      const { config } = msg;
      const encoding = chooseUpdateEncoding(config.updateEncodings, this.opts.updateEncodings ?? UPDATE_ENCODINGS);
      if (!encoding) throw new Error(`round ${msg.round} accepts update encodings ${config.updateEncodings?.join(', ')}, none of which this participant sends`);
      const seed = deriveSeed(config.seed, msg.round, this.seed);
      const result = await this.trainLocal(model, descriptor, base, await this.localParams(model), history, config, seed);
      await this.opts.store.putLocal(model.spec.kind, result.locals);
      if (result.numExamples < 1) return; // nothing learned: an empty update would only be refused
      const update = buildUpdate(model.spec, result.globals, base, {
        round: msg.round,
        baseVersion: msg.version,
        numExamples: result.numExamples,
        clipNorm: config.clipNorm,
        rows: this.opts.updateRows ?? 'when-smaller',
        encoding,
        random: this.opts.quantizeRandom,
      });
      const bytes = this.opts.updateMod ? this.modified(model.spec, update.delta, msg, update.preClipNorm) : update.bytes;
      this.state.lastLoss = result.loss;
      this.state.localTrainer = result.trainer;
      this.emit({ type: 'trained', round: msg.round, loss: result.loss, numExamples: result.numExamples, preClipNorm: update.preClipNorm, clipped: update.clipped, trainer: result.trainer });
      // Stopped (the person opted out, or another tab took over) while training: the update is dropped, never queued.
      if (!this.socket) return;
      if (secure) {
        // Masked with this connection's round keys: offline it is a dropout, never queued.
        if (!this.socket.connected) return;
        this.inFlight.set(msg.round, { baseVersion: msg.version, dataFingerprint: dataFingerprint(interactions) });
        return secure.input(model.spec, update.delta);
      }
      const now = Date.now();
      const { budget, log } = await this.readBudget(now);
      if (!budgetAllows(budget, log, bytes.byteLength, now)) return this.decline(msg.round, 'upload-budget');
      if (this.socket.connected) {
        this.inFlight.set(msg.round, { baseVersion: msg.version, dataFingerprint: dataFingerprint(interactions) });
        await this.send(msg.round, bytes);
      } else {
        await this.opts.store.putOutbox({ modelKind: this.opts.model, round: msg.round, baseVersion: msg.version, bytes, createdAt: Date.now() });
        this.emit({ type: 'queued', round: msg.round });
      }
    });
  }

  /** Loads the MF kernels once; says so when the WebAssembly SIMD one is unavailable (plain MF then trains on the JS kernel). */
  private async loadKernels(): Promise<MfKernelTrainer> {
    const kernels = await MfKernelTrainer.load();
    if (kernels.wasmProblem) this.emit({ type: 'error', message: `the WebAssembly SIMD training kernel is unavailable (${kernels.wasmProblem}): the embedding model trains on the JavaScript kernel` });
    return kernels;
  }

  /** Local training on the chosen trainer: the MF kernels where set (TensorFlow.js, said, if they fail), else TensorFlow.js. */
  private async trainLocal(model: RecommenderModel, d: ModelDescriptor | null, base: NamedTensors, locals: NamedTensors, history: Int32Array, config: RoundStartMessage['config'], seed: number): Promise<LocalTrainingResult & { trainer: LocalTrainer }> {
    if (this.kernels && d?.kind === 'mf') {
      try {
        return (await this.kernels).train(d, model, base, locals, history, config, seed);
      } catch (err) {
        this.emit({ type: 'error', message: `kernel training failed (${err instanceof Error ? err.message : String(err)}): this round trains on TensorFlow.js` });
      }
    }
    return { ...(await trainLocally(model, base, locals, history, config, seed)), trainer: 'tfjs' };
  }

  private modified(spec: ModelSpec, honest: NamedTensors, msg: RoundStartMessage, preClipNorm: number): Uint8Array {
    const { delta, numExamples } = this.opts.updateMod!(honest, msg.config.clipNorm);
    return encodeUpdate({ round: msg.round, baseVersion: msg.version, numExamples, preClipNorm, tensors: toWireTensors(spec, delta) });
  }

  /** Sends an update and counts it, in the store too (the device's cumulative counters and the rolling-hour log). */
  private async send(round: number, bytes: Uint8Array): Promise<void> {
    this.socket?.emit(EVENTS.update, bytes);
    await this.countUpload(round, bytes.byteLength);
  }

  /** Counts an upload (an update, or a masked input) in the state, the upload log and the budget. */
  private async countUpload(round: number, bytes: number): Promise<void> {
    this.state.bytesSent += bytes;
    this.state.updatesSent++;
    const at = Date.now();
    await this.opts.store.recordUpload({ modelKind: this.opts.model, bytes, at });
    this.emit({ type: 'sent', round, bytes });
    await this.readBudget(at);
  }

  private guard(fn: () => Promise<void>): void {
    fn().catch((err: unknown) => this.emit({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
  }

  private emit(e: ParticipantEvent): void {
    this.opts.onEvent?.(e);
  }
}
