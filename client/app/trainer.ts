import type { BackendChoice } from '../backend/select-backend.ts';
import { exclusionMask, topKOfScores } from '../../shared/eval/top-k.ts';
import { mfItemTables } from '../../shared/model/embedding-model.ts';
import { minInteractionsFor, type ModelKind } from '../../shared/model/model-registry.ts';
import type { CredentialSource } from '../../shared/participant/credential-source.ts';
import { historyFromInteractions } from '../../shared/participant/history.ts';
import { Participant, type ParticipantEvent, type ParticipantState } from '../../shared/participant/participant.ts';
import type { ParticipantStore } from '../../shared/participant/participant-store.ts';
import type { SerialQueue } from '../../shared/participant/serial-queue.ts';
import type { BackendName } from '../../shared/protocol/messages.ts';
import { PrivacyFeed } from './privacy-feed.ts';
import type { PrivacyState } from './privacy-text.ts';
import { describeModelStatus, type ModelStatus } from './model-status.ts';
import { RECS_SHOWN, type RecommendationsView } from './recommendations-view.ts';
import type { ScoringClient } from './scoring-client.ts';
import type { TrainerSnapshot } from './state-mirror.ts';

const TOP_K = RECS_SHOWN;

/**
 * Which code trains the MF model on this backend: a real GPU (WebGPU) and WebGL keep
 * TensorFlow.js; on the wasm and cpu backends the typed-array kernels (WebAssembly SIMD)
 * are many times faster per round. SASRec trains on TensorFlow.js everywhere.
 */
export function localTrainerFor(backend: BackendName): 'tfjs' | 'kernels' {
  return backend === 'wasm' || backend === 'cpu' ? 'kernels' : 'tfjs';
}

export interface TrainerOptions {
  readonly server: string;
  readonly backend: BackendChoice;
  readonly store: ParticipantStore;
  readonly models: readonly ModelKind[];
  readonly views: ReadonlyMap<ModelKind, RecommendationsView>;
  /** Never sent: seeds this device's local randomness. */
  readonly seedKey: string;
  /** The page's one credential source, shared by its participants (one identity per profile). */
  readonly credentials: CredentialSource;
  /** One TensorFlow.js queue for the page: the models take turns on the device. */
  readonly tfQueue: SerialQueue;
  /** What the tab that trained before this one had counted (rounds, bytes), carried on; null when none. */
  readonly carried: TrainerSnapshot | null;
  /** The catalog's own popularity order, most popular first (/api/catalog), for a model that has learned nothing yet. */
  readonly catalogPopular: readonly number[];
  /** Items never to recommend (retired from the catalog). */
  readonly excludedItems: () => Iterable<number>;
  /** People connected to each model per the coordinator (/api/health), null while unknown. */
  readonly peopleOnline: (kind: ModelKind) => number | null;
  /** A participant (re)connected: the count of people online should include it now. */
  readonly onConnected: () => void;
  /** Scores the embedding model's top-K off the main thread; null: score on the main thread. */
  readonly scoring: ScoringClient | null;
  /** Something shown changed: a participant event, new recommendations, a participant stood down. */
  readonly onChange: () => void;
  readonly onError: (message: string) => void;
}

interface ModelSlot {
  readonly participant: Participant;
  readonly refresh: () => void;
  /** The model's privacy guarantee, fetched again with every new version. */
  readonly privacy: PrivacyFeed;
  /** Between a round's start and this device's update leaving (or being refused). */
  training: boolean;
  everConnected: boolean;
}

/**
 * The tab that trains for this browser profile: one participant per model, all on the
 * page's one credential, and each model's recommendations kept fresh in its panel.
 */
export class Trainer {
  private readonly slots = new Map<ModelKind, ModelSlot>();
  /** Models whose participant stood down because the same identity connected elsewhere, with the coordinator's words. */
  private readonly replaced = new Map<ModelKind, string>();
  private participating = false;
  private stopped = false;
  /** The person's interaction count as of the last refresh (for the "like more items" state). */
  private interactions = 0;

  constructor(private readonly opts: TrainerOptions) {
    for (const kind of opts.models) {
      const participant = new Participant({
        serverUrl: opts.server,
        model: kind,
        seedKey: opts.seedKey,
        credentials: opts.credentials,
        store: opts.store,
        tfQueue: opts.tfQueue,
        backend: { name: opts.backend.name, reason: opts.backend.reason },
        localTrainer: localTrainerFor(opts.backend.name),
        onEvent: (e) => this.onEvent(kind, e),
        // Train only while the person has the page in front of them (participant.ts: mayTrainNow).
        mayTrainNow: () => typeof document === 'undefined' || document.visibilityState === 'visible',
      });
      const view = opts.views.get(kind);
      if (!view) throw new Error(`no recommendation panel for the ${kind} model`);
      const privacy = new PrivacyFeed({
        server: opts.server,
        kind,
        initial: opts.carried?.models[kind]?.privacy,
        onChange: () => {
          if (!this.stopped) opts.onChange();
        },
      });
      this.slots.set(kind, { participant, refresh: this.refresher(participant, view), privacy, training: false, everConnected: false });
    }
  }

  /** Starts (or stops) every participant; those that stood down after 'replaced' stay down. */
  setParticipating(participating: boolean): void {
    if (this.stopped) return;
    this.participating = participating;
    for (const [kind, s] of this.slots) {
      if (participating && !this.replaced.has(kind)) s.participant.start();
      else s.participant.stop();
    }
    this.opts.onChange();
  }

  /** The page was hidden or shown: each participant tells the coordinator whether it may train now. */
  visibilityChanged(): void {
    for (const s of this.slots.values()) void s.participant.trainingConditionsChanged();
  }

  /** The person's per-hour upload budget for this device (all models together), applied from the next round on. */
  async setUploadBudget(bytesPerHour: number): Promise<void> {
    for (const s of this.slots.values()) await s.participant.setUploadBudget(bytesPerHour);
    this.opts.onChange();
  }

  /** The person chose to train here after all: start the participants that stood down after 'replaced'. */
  reclaim(): void {
    this.replaced.clear();
    this.setParticipating(this.participating);
  }

  /** The person's interactions changed (in this tab or another): eligibility, then recommendations. */
  async interactionsChanged(): Promise<void> {
    for (const s of this.slots.values()) await s.participant.interactionsChanged();
    this.refreshAll();
  }

  refreshAll(): void {
    for (const s of this.slots.values()) s.refresh();
  }

  /** Fetch every model's privacy guarantee again (at start; then each model on its own new versions). */
  refreshPrivacy(): void {
    for (const s of this.slots.values()) s.privacy.refresh();
  }

  /** Each model's privacy guarantee as last fetched. */
  privacyStates(): Map<ModelKind, PrivacyState> {
    return new Map([...this.slots].map(([kind, s]) => [kind, s.privacy.state] as const));
  }

  /**
   * Each model's state as shown. The counters are this device's cumulative totals, kept in
   * IndexedDB (participant-events.ts): shown as they are, never added to a previous tab's.
   * Until this tab's participant has a version, the one the previous trainer tab showed.
   */
  states(): Map<ModelKind, ParticipantState> {
    const out = new Map<ModelKind, ParticipantState>();
    for (const [kind, s] of this.slots) {
      const live = s.participant.state;
      const before = this.opts.carried?.models[kind]?.state;
      out.set(kind, { ...live, version: live.version ?? before?.version ?? null, lastLoss: live.lastLoss ?? before?.lastLoss ?? null, localTrainer: live.localTrainer ?? before?.localTrainer ?? null });
    }
    return out;
  }

  /** Where each model's training stands, in words (client/app/model-status.ts). */
  statuses(): Map<ModelKind, ModelStatus> {
    const out = new Map<ModelKind, ModelStatus>();
    for (const [kind, s] of this.slots) {
      const privacy = s.privacy.state;
      out.set(
        kind,
        describeModelStatus({
          participating: this.participating,
          privacySpent: privacy.status === 'ok' && privacy.privacy !== null && privacy.privacy.exhausted,
          replaced: this.replaced.has(kind),
          connected: s.participant.state.connected,
          everConnected: s.everConnected,
          training: s.training,
          version: s.participant.state.version,
          interactions: this.interactions,
          minInteractions: minInteractionsFor(kind),
          peopleOnline: this.opts.peopleOnline(kind),
          hold: s.participant.state.trainingHold,
        }),
      );
    }
    return out;
  }

  /** Models stood down after 'replaced', with the coordinator's message. */
  replacedModels(): ReadonlyMap<ModelKind, string> {
    return this.replaced;
  }

  snapshot(): TrainerSnapshot {
    const states = this.states();
    const statuses = this.statuses();
    const models: TrainerSnapshot['models'] = {};
    for (const kind of this.opts.models) {
      models[kind] = {
        state: states.get(kind)!,
        recs: this.opts.views.get(kind)?.snapshot() ?? null,
        replaced: this.replaced.get(kind) ?? null,
        privacy: this.slots.get(kind)!.privacy.state,
        status: statuses.get(kind),
      };
    }
    return { backend: { name: this.opts.backend.name, reason: this.opts.backend.reason }, participating: this.participating, models };
  }

  /** This tab no longer trains (it handed the role to another tab): close every connection. */
  stop(): void {
    this.stopped = true;
    for (const s of this.slots.values()) {
      s.participant.stop();
      s.privacy.stop();
    }
  }

  private onEvent(kind: ModelKind, e: ParticipantEvent): void {
    if (this.stopped) return;
    if (e.type === 'error') console.warn(`participant (${kind}):`, e.message);
    const slot = this.slots.get(kind);
    if (slot) {
      if (e.type === 'connected') {
        slot.everConnected = true;
        this.opts.onConnected();
      }
      if (e.type === 'round-start') slot.training = true;
      if (['sent', 'queued', 'ack', 'rejected', 'error', 'disconnected', 'declined'].includes(e.type)) slot.training = false;
    }
    if (e.type === 'replaced') {
      // Another session with this profile's identity (e.g. a copied profile) connected: stand down, don't fight it.
      console.warn(`participant (${kind}) replaced:`, e.message);
      this.replaced.set(kind, e.message);
      this.slots.get(kind)?.participant.stop();
    }
    if (e.type === 'model') {
      // A new version is a released round: the spent ε moved with it.
      this.slots.get(kind)?.refresh();
      this.slots.get(kind)?.privacy.refresh();
    }
    // (Re)connected: the coordinator may have moved on (or restarted) meanwhile.
    if (e.type === 'connected') this.slots.get(kind)?.privacy.refresh();
    this.opts.onChange();
  }

  /**
   * What many people like, for a person the model cannot score yet: the embedding model's
   * item bias once it has learned from a round (a popularity signal the federated rounds
   * learned, no individual's data), else the catalog's own popularity order.
   */
  private async popularTopK(history: Int32Array): Promise<number[]> {
    const retired = [...this.opts.excludedItems()];
    const mf = this.slots.get('mf')?.participant;
    const version = mf?.state.version ?? null;
    if (mf && version !== null && version > 0) {
      // The item bias the rounds learned (with the feature tower's part): no one person's data.
      const inputs = await mf.scoringInputs();
      if (inputs?.descriptor.kind === 'mf') {
        const { bias } = mfItemTables(inputs.descriptor, inputs.globals);
        return topKOfScores(bias, TOP_K, exclusionMask(bias.length, history, retired, inputs.descriptor.retiredItems ?? []));
      }
    }
    const skip = new Set([...history, ...retired]);
    return this.opts.catalogPopular.filter((i) => !skip.has(i)).slice(0, TOP_K);
  }

  /**
   * Top-K for this person, in the scoring worker (client/app/scoring-worker.ts), one copy
   * of the weights per version: the embedding model's user vector (fold-in done here)
   * against its item table; the sequence model's own scoreAll over the history (its
   * encoder's last hidden state against the item embeddings). On the main thread only
   * where the page has no worker.
   */
  private async personalTopK(participant: Participant, history: Int32Array, view: RecommendationsView): Promise<number[]> {
    const retired = [...this.opts.excludedItems()];
    const { scoring } = this.opts;
    if (participant.modelKind === 'mf' && scoring) {
      const inputs = await participant.scoringInputs();
      if (!inputs || inputs.descriptor.kind !== 'mf') return [];
      const d = inputs.descriptor;
      // The vectors the model scores with (free rows plus the feature tower's part), a copy per version for the worker.
      if (!scoring.hasTable('mf', inputs.version)) scoring.ensureTable('mf', inputs.version, { ...mfItemTables(d, inputs.globals), dim: d.dim });
      const items = await scoring.topK('mf', inputs.locals.userEmbedding, TOP_K, [...inputs.history, ...retired, ...(d.retiredItems ?? [])]);
      view.setScoredIn('worker');
      return items;
    }
    if (participant.modelKind === 'sasrec' && scoring) {
      const inputs = await participant.scoringInputs();
      if (!inputs) return [];
      scoring.ensureModel('sasrec', inputs.version, inputs.descriptor, inputs.globals);
      const items = await scoring.topKForHistory('sasrec', inputs.history, TOP_K, [...retired, ...(inputs.descriptor.retiredItems ?? [])]);
      view.setScoredIn('worker');
      return items;
    }
    view.setScoredIn('main-thread');
    const skip = new Set(retired);
    return (await participant.recommend(TOP_K + skip.size)).items.filter((i) => !skip.has(i)).slice(0, TOP_K);
  }

  /** Keeps one model's recommendations fresh: one refresh at a time, coalescing requests made meanwhile. */
  private refresher(participant: Participant, view: RecommendationsView): () => void {
    const { store } = this.opts;
    let running = false;
    let pending = false;
    const run = async (): Promise<void> => {
      running = true;
      try {
        do {
          pending = false;
          const interactions = await store.getInteractions();
          this.interactions = interactions.length;
          const history = historyFromInteractions(interactions);
          const version = participant.state.version;
          // Until the shared model has learned from a round (version 0 is random weights) or
          // before the person liked anything, a personal ranking would mean nothing: show what is popular.
          const personal = history.length > 0 && version !== null && version > 0;
          const items = personal ? await this.personalTopK(participant, history, view) : await this.popularTopK(history);
          if (this.stopped) return;
          view.setHeading(personal ? recommendationHeading(participant.modelKind, history, view) : 'Popular now');
          // Show what was computed, labelled with the version it was scored with (even when a
          // newer one arrived meanwhile: rounds can land faster than a slow device scores),
          // then go again if a newer model or a new like is waiting.
          view.show(items, version, items.length === 0 ? 'Like a few items to get recommendations' : undefined, personal ? 'personal' : 'popular');
          if (participant.state.version !== version) pending = true;
        } while (pending);
        this.opts.onChange();
      } catch (err) {
        this.opts.onError(`Could not compute recommendations: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        running = false;
      }
    };
    return () => {
      if (running) pending = true;
      else void run();
    };
  }
}

/**
 * The embedding model recommends from a person's whole taste; the sequence model
 * predicts what comes next after the latest interaction, and says so.
 */
function recommendationHeading(kind: ModelKind, history: ArrayLike<number>, view: RecommendationsView): string {
  if (kind !== 'sasrec') return 'Recommended for you';
  if (history.length === 0) return 'What next';
  return `Because you just looked at “${view.titleOf(history[history.length - 1])}”`;
}
