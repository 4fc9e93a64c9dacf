import { selectBackend, type BackendChoice } from '../backend/select-backend.ts';
import { getOrCreateClientId, openIdbParticipantStore } from '../store/idb-participant-store.ts';
import type { ModelKind } from '../../shared/model/model-registry.ts';
import { Participant, type ParticipantEvent, type ParticipantState } from '../../shared/participant/participant.ts';
import type { ParticipantStore, StoredInteraction } from '../../shared/participant/participant-store.ts';
import { coordinatorCredentials } from '../../shared/participant/credential-source.ts';
import { SerialQueue } from '../../shared/participant/serial-queue.ts';
import {
  BackendNameSchema,
  CatalogResponseSchema,
  ModelsResponseSchema,
  PROTOCOL_VERSION,
  type BackendName,
  type CatalogResponse,
} from '../../shared/protocol/messages.ts';
import { CatalogView } from './catalog-view.ts';
import { byTestId, el } from './dom.ts';
import { RecommendationsView } from './recommendations-view.ts';
import { historyFromInteractions } from '../../shared/participant/history.ts';
import { StatusPanel } from './status-panel.ts';
import './styles.css';

const TOP_K = 10;
const OPTED_OUT_KEY = 'optedOut';

interface PageParams {
  readonly backend: BackendName | null;
  readonly server: string;
}

function readParams(): PageParams {
  const q = new URLSearchParams(location.search);
  const forced = BackendNameSchema.safeParse(q.get('backend'));
  const server = (q.get('server') ?? location.origin).replace(/\/+$/, '');
  return { backend: forced.success ? forced.data : null, server };
}

async function getJson(server: string, path: string, what: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${server}${path}`);
  } catch (err) {
    throw new Error(`The coordinator at ${server} is unreachable (${err instanceof Error ? err.message : String(err)}).`);
  }
  if (!res.ok) throw new Error(`The coordinator at ${server} answered HTTP ${res.status} for ${what}.`);
  return res.json();
}

async function fetchCatalog(server: string): Promise<CatalogResponse> {
  return CatalogResponseSchema.parse(await getJson(server, '/api/catalog', 'the catalog'));
}

/** The models the coordinator federates, in its order; each gets its own participant and panel. */
async function fetchModels(server: string): Promise<ModelKind[]> {
  const body = ModelsResponseSchema.parse(await getJson(server, '/api/models', 'its models'));
  if (body.protocolVersion !== PROTOCOL_VERSION) {
    throw new Error(`The coordinator speaks protocol ${body.protocolVersion}, this page ${PROTOCOL_VERSION}: reload the page.`);
  }
  return body.models.map((m) => m.model.kind);
}

function showError(message: string): void {
  const banner = byTestId(document, 'error');
  banner.textContent = message;
  banner.hidden = false;
  document.body.dataset.error = message;
}

/** Start-up failed: say so in place of the placeholders, with a way to try again. */
function showStartupFailure(message: string): void {
  showError(message);
  const retry = el('button', { type: 'button', 'data-testid': 'retry' }, 'Try again');
  retry.addEventListener('click', () => location.reload());
  byTestId(document, 'catalog-panel').replaceChildren(el('p', { class: 'muted' }, 'The catalog could not be loaded. '), retry);
  byTestId(document, 'recs-panels').replaceChildren(el('section', { class: 'panel' }, el('p', { class: 'muted' }, 'No recommendations until the catalog loads.')));
  document.querySelector<HTMLButtonElement>('[data-testid=opt-out]')?.setAttribute('disabled', '');
}

/**
 * The embedding model recommends from a person's whole taste; the sequence model
 * predicts what comes next after the latest interaction, and says so.
 */
async function recommendationHeading(kind: ModelKind, store: ParticipantStore, view: RecommendationsView): Promise<string> {
  if (kind !== 'sasrec') return 'Recommended for you';
  const history = historyFromInteractions(await store.getInteractions());
  if (history.length === 0) return 'What next';
  return `Because you just looked at “${view.titleOf(history[history.length - 1])}”`;
}

/** Keeps one model's recommendations fresh: one refresh at a time, coalescing requests made meanwhile. */
function recommendationRefresher(participant: Participant, store: ParticipantStore, view: RecommendationsView): () => void {
  let running = false;
  let pending = false;
  const run = async (): Promise<void> => {
    running = true;
    try {
      do {
        pending = false;
        const version = participant.state.version;
        // With no likes yet the ranking would only reflect a random taste vector: ask for likes instead.
        const hasHistory = (await store.getInteractions()).length > 0;
        const items = hasHistory ? await participant.recommend(TOP_K) : [];
        view.setHeading(await recommendationHeading(participant.modelKind, store, view));
        // Recompute if a newer model arrived while scoring, so the shown version is exact.
        if (participant.state.version !== version) pending = true;
        else view.show(items, version, hasHistory && version === null ? 'Waiting for the shared model…' : undefined);
      } while (pending);
    } catch (err) {
      showError(`Could not compute recommendations: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      running = false;
    }
  };
  return () => {
    if (running) pending = true;
    else void run();
  };
}

function markLabel(i: StoredInteraction): string {
  return i.kind === 'rating' ? '★'.repeat(i.rating) : 'Liked';
}

interface ModelSlot {
  readonly participant: Participant;
  readonly refresh: () => void;
}

async function startApp(params: PageParams, backend: BackendChoice, store: ParticipantStore, catalog: CatalogResponse, models: readonly ModelKind[]): Promise<void> {
  byTestId(document, 'catalog-name').textContent = `Catalog: ${catalog.name}.`;
  const status = new StatusPanel(byTestId(document, 'status'), backend, models);
  // Never sent: seeds this device's local randomness. The identity is the coordinator's credential, kept in IndexedDB.
  const seedKey = await getOrCreateClientId(store);
  const credentials = coordinatorCredentials(params.server, store);
  // One TensorFlow.js queue for the page: the models take turns on the device.
  const tfQueue = new SerialQueue();

  let participating = !(await store.getMeta<boolean>(OPTED_OUT_KEY));
  const slots = new Map<ModelKind, ModelSlot>();
  const states = new Map<ModelKind, ParticipantState>();
  const views: RecommendationsView[] = [];
  for (const kind of models) {
    const view = new RecommendationsView(kind, catalog.titles);
    views.push(view);
    const onEvent = (e: ParticipantEvent): void => {
      if (e.type === 'error') console.warn(`participant (${kind}):`, e.message);
      status.update(states, participating);
      if (e.type === 'model') slots.get(kind)?.refresh();
    };
    const participant = new Participant({
      serverUrl: params.server,
      model: kind,
      seedKey,
      credentials,
      store,
      tfQueue,
      backend: { name: backend.name, reason: backend.reason },
      onEvent,
    });
    states.set(kind, participant.state);
    slots.set(kind, { participant, refresh: recommendationRefresher(participant, store, view) });
  }
  byTestId(document, 'recs-panels').replaceChildren(...views.map((v) => v.root));
  const refreshAll = (): void => {
    for (const s of slots.values()) s.refresh();
  };

  const record = async (interaction: StoredInteraction): Promise<void> => {
    await store.addInteraction(interaction);
    catalogView.mark(interaction.item, markLabel(interaction));
    for (const s of slots.values()) await s.participant.interactionsChanged();
    refreshAll();
  };
  const catalogView = new CatalogView(byTestId(document, 'catalog-panel'), catalog.titles, {
    onLike: (item) => void record({ item, rating: 1, kind: 'click', timestamp: Date.now() }),
    onRate: (item, rating) => void record({ item, rating, kind: 'rating', timestamp: Date.now() }),
  });
  for (const i of await store.getInteractions()) catalogView.mark(i.item, markLabel(i));

  status.optOut.addEventListener('click', () => {
    participating = !participating;
    for (const s of slots.values()) {
      if (participating) s.participant.start();
      else s.participant.stop();
    }
    void store.putMeta(OPTED_OUT_KEY, !participating);
    status.update(states, participating);
  });

  if (participating) for (const s of slots.values()) s.participant.start();
  status.update(states, participating);
  refreshAll();
  document.body.dataset.ready = 'true';
}

async function main(): Promise<void> {
  const params = readParams();
  const backend = await selectBackend(params.backend);
  // The backend is known before anything else can fail: show it even in the error state.
  new StatusPanel(byTestId(document, 'status'), backend, []).update(new Map(), true);
  const store = await openIdbParticipantStore();
  const [catalog, models] = await Promise.all([fetchCatalog(params.server), fetchModels(params.server)]);
  await startApp(params, backend, store, catalog, models);
}

main().catch((err: unknown) => {
  console.error(err);
  showStartupFailure(err instanceof Error ? err.message : String(err));
});
