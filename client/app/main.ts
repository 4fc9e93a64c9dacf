import { selectBackend, type BackendChoice } from '../backend/select-backend.ts';
import { getOrCreateClientId, openIdbParticipantStore } from '../store/idb-participant-store.ts';
import type { ModelKind } from '../../shared/model/model-registry.ts';
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
import { CatalogView, type ItemMark } from './catalog-view.ts';
import { CatalogFeed } from './catalog-feed.ts';
import { HealthFeed } from './health-feed.ts';
import { LikesView } from './likes-view.ts';
import { ScoringClient } from './scoring-client.ts';
import { byTestId, el } from './dom.ts';
import { RecommendationsView } from './recommendations-view.ts';
import { PrivacyPanel } from './privacy-panel.ts';
import type { PrivacyState } from './privacy-text.ts';
import { StateMirror, type TrainerSnapshot } from './state-mirror.ts';
import type { ModelStatus } from './model-status.ts';
import { StatusPanel } from './status-panel.ts';
import { electTrainer, type TabElection } from './tab-election.ts';
import { Trainer } from './trainer.ts';
import './styles.css';

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
  byTestId(document, 'privacy-models').replaceChildren(el('p', { class: 'muted' }, 'Unknown until the coordinator answers.'));
  document.querySelector<HTMLButtonElement>('[data-testid=opt-out]')?.setAttribute('disabled', '');
}

/** What the person did with each item (its latest rating, if any), the most recent first. */
function marksOf(interactions: readonly StoredInteraction[]): Map<number, ItemMark> {
  const latest = new Map<number, { at: number; rating: number | null }>();
  for (const i of interactions) {
    const prev = latest.get(i.item);
    const rating = i.kind === 'rating' ? i.rating : null;
    if (!prev) latest.set(i.item, { at: i.timestamp, rating });
    else latest.set(i.item, { at: Math.max(prev.at, i.timestamp), rating: rating !== null && i.timestamp >= prev.at ? rating : prev.rating ?? rating });
  }
  return new Map([...latest].sort((a, b) => b[1].at - a[1].at).map(([item, m]) => [item, { rating: m.rating }]));
}

/** The scoring worker, or null where workers are unavailable (scoring then stays on the main thread). */
function startScoring(): ScoringClient | null {
  try {
    return new ScoringClient();
  } catch (err) {
    console.warn('no scoring worker, scoring on the main thread:', err);
    return null;
  }
}

/**
 * The app in one tab. The tabs of a browser profile elect one to train
 * (tab-election.ts): it runs the participants; the others open no connection and show
 * what it publishes (state-mirror.ts). Likes and opt-out are written to IndexedDB by
 * whichever tab the person uses and announced to the others.
 */
async function startApp(params: PageParams, backend: BackendChoice, store: ParticipantStore, catalog: CatalogResponse, models: readonly ModelKind[]): Promise<void> {
  byTestId(document, 'catalog-name').textContent = `Catalog: ${catalog.name}.`;
  const status = new StatusPanel(byTestId(document, 'status'), backend, models);
  const privacy = new PrivacyPanel(byTestId(document, 'privacy-models'), models);
  const views = new Map(models.map((kind) => [kind, new RecommendationsView(kind, catalog.titles)] as const));
  const scoring = startScoring();
  byTestId(document, 'recs-panels').replaceChildren(...[...views.values()].map((v) => v.root));
  // Never sent: seeds this device's local randomness. The identity is the coordinator's credential, kept in IndexedDB.
  const seedKey = await getOrCreateClientId(store);
  const credentials = coordinatorCredentials(params.server, store);
  // One TensorFlow.js queue for the page: the models take turns on the device.
  const tfQueue = new SerialQueue();

  let participating = !(await store.getMeta<boolean>(OPTED_OUT_KEY));
  let trainer: Trainer | null = null;
  /** The last snapshot a trainer tab published: shown while following, carried on when this tab takes over. */
  let followed: TrainerSnapshot | null = null;
  /** An opt-out change made in this follower tab that the trainer's snapshots do not show yet. */
  let requested: boolean | null = null;

  // The catalog and "your likes" show what IndexedDB holds, re-read after every change (made here or in another tab).
  const showMarks = async (): Promise<void> => {
    const marks = marksOf(await store.getInteractions());
    for (const item of [...shownMarks.keys()]) if (!marks.has(item)) catalogView.mark(item, null);
    for (const [item, mark] of marks) catalogView.mark(item, mark);
    shownMarks = marks;
    likesView.show([...marks].map(([item, m]) => ({ item, rating: m.rating })));
  };
  let shownMarks = new Map<number, ItemMark>();
  // A like or rating is written to IndexedDB by the tab it was made in, then told to the others.
  const record = async (interaction: StoredInteraction): Promise<void> => {
    await store.addInteraction(interaction);
    await showMarks();
    mirror.announceInteraction(interaction);
    await trainer?.interactionsChanged();
  };
  const unlike = async (item: number): Promise<void> => {
    await store.removeInteractions(item);
    await showMarks();
    mirror.announceUnlike(item);
    await trainer?.interactionsChanged();
  };
  const catalogView = new CatalogView(byTestId(document, 'catalog-panel'), catalog.titles, {
    onLike: (item) => void record({ item, rating: 1, kind: 'click', timestamp: Date.now() }),
    onUnlike: (item) => void unlike(item),
    onRate: (item, rating) => void record({ item, rating, kind: 'rating', timestamp: Date.now() }),
  });
  const likesView = new LikesView(byTestId(document, 'likes-panel'), catalog.titles, (item) => void unlike(item));
  await showMarks();
  const health = new HealthFeed(params.server, () => render());
  // Items the operator added or retired since the page loaded (catalog-feed.ts).
  let retired: ReadonlySet<number> = new Set(catalog.retired ?? []);
  const catalogFeed = new CatalogFeed(params.server, catalog.version, (next) => {
    retired = new Set(next.retired ?? []);
    catalogView.setCatalog(next.titles, retired);
    likesView.setTitles(next.titles);
    for (const view of views.values()) view.setTitles(next.titles);
    trainer?.refreshAll();
  });

  const render = (): void => {
    if (trainer) {
      catalogFeed.modelVersions([...trainer.states().values()].map((s) => s.version));
      const statuses = trainer.statuses();
      status.update(trainer.states(), participating, statuses);
      for (const [kind, s] of statuses) views.get(kind)?.setState(s.state, s.text);
      status.setReplaced(trainer.replacedModels());
      privacy.update(trainer.privacyStates());
      mirror.publish(trainer.snapshot());
    } else if (followed) {
      status.setBackend(followed.backend.name, followed.backend.reason);
      status.update(
        new Map(Object.entries(followed.models).map(([k, m]) => [k as ModelKind, m.state])),
        participating,
        new Map(Object.entries(followed.models).flatMap(([k, m]) => (m.status ? [[k as ModelKind, m.status as ModelStatus] as const] : []))),
      );
      status.setReplaced(new Map(Object.entries(followed.models).flatMap(([k, m]) => (m.replaced ? [[k as ModelKind, m.replaced] as const] : []))));
      privacy.update(new Map(Object.entries(followed.models).flatMap(([k, m]): [ModelKind, PrivacyState][] => (m.privacy ? [[k as ModelKind, m.privacy]] : []))));
      for (const [kind, view] of views) {
        const recs = followed.models[kind]?.recs;
        if (recs) view.apply(recs);
        const st = followed.models[kind]?.status;
        if (st) view.setState(st.state, st.text);
      }
    } else {
      status.update(new Map(), participating);
    }
  };

  const mirror = new StateMirror({
    onSnapshot: (snapshot) => {
      if (trainer) return;
      followed = snapshot;
      // Snapshots published before the trainer heard of this tab's opt-out change must not undo it on screen.
      if (requested === snapshot.participating) requested = null;
      participating = requested ?? snapshot.participating;
      render();
    },
    onHello: () => {
      if (trainer) mirror.publish(trainer.snapshot());
    },
    onInteraction: () => {
      void showMarks();
      if (trainer) void trainer.interactionsChanged();
    },
    onUnlike: () => {
      void showMarks();
      if (trainer) void trainer.interactionsChanged();
    },
    onParticipation: (p) => {
      participating = p;
      requested = null;
      trainer?.setParticipating(p);
      render();
    },
    onReclaim: () => trainer?.reclaim(),
  });

  status.optOut.addEventListener('click', () => {
    const next = !participating;
    participating = next;
    if (!trainer) requested = next;
    // Opt-out is the profile's: kept in IndexedDB and told to every tab.
    void store.putMeta(OPTED_OUT_KEY, !next).then(() => mirror.announceParticipation(next));
    trainer?.setParticipating(next);
    render();
  });
  status.budget.addEventListener('change', () => {
    const bytesPerHour = Number(status.budget.value);
    if (trainer) trainer.setUploadBudget(bytesPerHour).catch((err: unknown) => showError(`Could not change the upload budget: ${err instanceof Error ? err.message : String(err)}`));
  });
  status.trainHere.addEventListener('click', () => {
    if (trainer) trainer.reclaim();
    else mirror.askToReclaim();
  });

  const train = async (): Promise<void> => {
    // A follower may have changed opt-out just before the trainer's tab closed: IndexedDB has the last word.
    participating = !(await store.getMeta<boolean>(OPTED_OUT_KEY));
    requested = null;
    trainer = new Trainer({
      server: params.server, backend, store, models, views, seedKey, credentials, tfQueue,
      carried: followed,
      catalogPopular: catalog.popular ?? [],
      excludedItems: () => [...retired],
      peopleOnline: (kind) => health.peopleOnline(kind),
      // After the join has reached the coordinator (the handshake, then the join message).
      onConnected: () => setTimeout(() => health.refresh(), 1000),
      scoring,
      onChange: render,
      onError: showError,
    });
    status.setBackend(backend.name, backend.reason);
    trainer.setParticipating(participating);
    trainer.refreshAll();
    trainer.refreshPrivacy();
    health.start();
  };
  const follow = (): void => {
    trainer?.stop();
    trainer = null;
    health.stop();
    for (const view of views.values()) view.show([], null, 'Waiting for the tab that trains…');
    render();
    mirror.hello();
  };
  let roleSettled: Promise<void> = Promise.resolve();
  const election: TabElection = electTrainer({
    onRole: (role) => {
      document.body.dataset.tabRole = role;
      status.setRole(role, election.mechanism);
      if (role === 'follower') follow();
      else roleSettled = train().catch((err: unknown) => showError(`Could not start training: ${err instanceof Error ? err.message : String(err)}`));
    },
  });
  document.body.dataset.election = election.mechanism;
  await election.decided;
  await roleSettled;
  addEventListener('pagehide', () => election.close());
  document.addEventListener('visibilitychange', () => trainer?.visibilityChanged());
  // Back from the back/forward cache, this tab holds no role any more: start afresh.
  addEventListener('pageshow', (e) => {
    if (e.persisted) location.reload();
  });
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
