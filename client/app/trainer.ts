import type { BackendChoice } from '../backend/select-backend.ts';
import type { ModelKind } from '../../shared/model/model-registry.ts';
import type { CredentialSource } from '../../shared/participant/credential-source.ts';
import { historyFromInteractions } from '../../shared/participant/history.ts';
import { Participant, type ParticipantEvent, type ParticipantState } from '../../shared/participant/participant.ts';
import type { ParticipantStore } from '../../shared/participant/participant-store.ts';
import type { SerialQueue } from '../../shared/participant/serial-queue.ts';
import { PrivacyFeed } from './privacy-feed.ts';
import type { PrivacyState } from './privacy-text.ts';
import type { RecommendationsView } from './recommendations-view.ts';
import type { TrainerSnapshot } from './state-mirror.ts';

const TOP_K = 10;

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
  /** Something shown changed: a participant event, new recommendations, a participant stood down. */
  readonly onChange: () => void;
  readonly onError: (message: string) => void;
}

interface ModelSlot {
  readonly participant: Participant;
  readonly refresh: () => void;
  /** The model's privacy guarantee, fetched again with every new version. */
  readonly privacy: PrivacyFeed;
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
        onEvent: (e) => this.onEvent(kind, e),
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
      this.slots.set(kind, { participant, refresh: this.refresher(participant, view), privacy });
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

  /** Each model's state as shown: this tab's counters added to those carried from the tab that trained before. */
  states(): Map<ModelKind, ParticipantState> {
    const out = new Map<ModelKind, ParticipantState>();
    for (const [kind, s] of this.slots) {
      const live = s.participant.state;
      const before = this.opts.carried?.models[kind]?.state;
      out.set(
        kind,
        before
          ? {
              ...live,
              version: live.version ?? before.version,
              roundsJoined: before.roundsJoined + live.roundsJoined,
              lastLoss: live.lastLoss ?? before.lastLoss,
              bytesSent: before.bytesSent + live.bytesSent,
              updatesSent: before.updatesSent + live.updatesSent,
            }
          : { ...live },
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
    const models: TrainerSnapshot['models'] = {};
    for (const kind of this.opts.models) {
      models[kind] = {
        state: states.get(kind)!,
        recs: this.opts.views.get(kind)?.snapshot() ?? null,
        replaced: this.replaced.get(kind) ?? null,
        privacy: this.slots.get(kind)!.privacy.state,
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
          // With no likes yet the ranking would only reflect a random taste vector: ask for likes instead.
          const hasHistory = interactions.length > 0;
          const { items, version } = hasHistory ? await participant.recommend(TOP_K) : { items: [], version: participant.state.version };
          if (this.stopped) return;
          view.setHeading(recommendationHeading(participant.modelKind, historyFromInteractions(interactions), view));
          // Show what was computed, labelled with the version it was scored with (even when a
          // newer one arrived meanwhile: rounds can land faster than a slow device scores),
          // then go again if a newer model or a new like is waiting.
          view.show(items, version, hasHistory && version === null ? 'Waiting for the shared model…' : undefined);
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
