import { selectBackend, type BackendChoice } from '../backend/select-backend.ts';
import { getOrCreateClientId, openIdbParticipantStore } from '../store/idb-participant-store.ts';
import { Participant, type ParticipantEvent } from '../../shared/participant/participant.ts';
import type { ParticipantStore, StoredInteraction } from '../../shared/participant/participant-store.ts';
import { BackendNameSchema, CatalogResponseSchema, type BackendName, type CatalogResponse } from '../../shared/protocol/messages.ts';
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

async function fetchCatalog(server: string): Promise<CatalogResponse> {
  let res: Response;
  try {
    res = await fetch(`${server}/api/catalog`);
  } catch (err) {
    throw new Error(`The coordinator at ${server} is unreachable (${err instanceof Error ? err.message : String(err)}).`);
  }
  if (!res.ok) throw new Error(`The coordinator at ${server} answered HTTP ${res.status} for the catalog.`);
  return CatalogResponseSchema.parse(await res.json());
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
  byTestId(document, 'recs-panel').replaceChildren(el('p', { class: 'muted' }, 'No recommendations until the catalog loads.'));
  document.querySelector<HTMLButtonElement>('[data-testid=opt-out]')?.setAttribute('disabled', '');
}

/**
 * The embedding model recommends from a person's whole taste; the sequence model
 * predicts what comes next after the latest interaction, and says so.
 */
async function recommendationHeading(participant: Participant, store: ParticipantStore, view: RecommendationsView): Promise<string> {
  if (participant.modelKind !== 'sasrec') return 'Recommended for you';
  const history = historyFromInteractions(await store.getInteractions());
  if (history.length === 0) return 'What next';
  return `Because you just looked at “${view.titleOf(history[history.length - 1])}”`;
}

/** Keeps recommendations fresh: one refresh at a time, coalescing requests made meanwhile. */
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
        view.setHeading(await recommendationHeading(participant, store, view));
        // Recompute if a newer model arrived while scoring, so recsVersion is exact.
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

async function startApp(params: PageParams, backend: BackendChoice, store: ParticipantStore, catalog: CatalogResponse): Promise<void> {
  byTestId(document, 'catalog-name').textContent = `Catalog: ${catalog.name}.`;
  const status = new StatusPanel(byTestId(document, 'status'), backend);
  const recs = new RecommendationsView(byTestId(document, 'recs-panel'), catalog.titles);

  let participating = !(await store.getMeta<boolean>(OPTED_OUT_KEY));
  let refresh: () => void = () => undefined;
  const onEvent = (e: ParticipantEvent): void => {
    if (e.type === 'error') console.warn('participant:', e.message);
    status.update(participant.state, participating);
    if (e.type === 'model') refresh();
  };
  const participant = new Participant({
    serverUrl: params.server,
    clientId: await getOrCreateClientId(store),
    store,
    backend: { name: backend.name, reason: backend.reason },
    onEvent,
  });
  refresh = recommendationRefresher(participant, store, recs);

  const record = async (interaction: StoredInteraction): Promise<void> => {
    await store.addInteraction(interaction);
    catalogView.mark(interaction.item, markLabel(interaction));
    await participant.interactionsChanged();
    refresh();
  };
  const catalogView = new CatalogView(byTestId(document, 'catalog-panel'), catalog.titles, {
    onLike: (item) => void record({ item, rating: 1, kind: 'click', timestamp: Date.now() }),
    onRate: (item, rating) => void record({ item, rating, kind: 'rating', timestamp: Date.now() }),
  });
  for (const i of await store.getInteractions()) catalogView.mark(i.item, markLabel(i));

  status.optOut.addEventListener('click', () => {
    participating = !participating;
    if (participating) participant.start();
    else participant.stop();
    void store.putMeta(OPTED_OUT_KEY, !participating);
    status.update(participant.state, participating);
  });

  if (participating) participant.start();
  status.update(participant.state, participating);
  refresh();
  document.body.dataset.ready = 'true';
}

async function main(): Promise<void> {
  const params = readParams();
  const backend = await selectBackend(params.backend);
  // The backend is known before anything else can fail: show it even in the error state.
  new StatusPanel(byTestId(document, 'status'), backend).update(
    { connected: false, version: null, roundsJoined: 0, lastLoss: null, bytesSent: 0, updatesSent: 0, lastRejection: null },
    true,
  );
  const store = await openIdbParticipantStore();
  const catalog = await fetchCatalog(params.server);
  await startApp(params, backend, store, catalog);
}

main().catch((err: unknown) => {
  console.error(err);
  showStartupFailure(err instanceof Error ? err.message : String(err));
});
