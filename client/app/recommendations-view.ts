import type { ModelKind } from '../../shared/model/model-registry.ts';
import { el } from './dom.ts';
import { MODEL_LABELS } from './model-labels.ts';
import type { RecsSnapshot } from './state-mirror.ts';

/** How many recommendations a panel shows; the panel reserves room for all of them. */
export const RECS_SHOWN = 10;

export type RecsSource = 'popular' | 'personal';

const SOURCE_NOTES: Readonly<Record<RecsSource, string>> = {
  popular: 'What many people like: the shared model does not know your taste yet.',
  personal: 'Scored on this device from your likes.',
};

/**
 * One model's top-k recommendations in rank order, or a hint when there are none yet,
 * in a panel of its own (data-testid "recs-<kind>"; data-recs-version is the global
 * version the list was computed from, data-source 'popular' or 'personal'). The list
 * keeps the height of RECS_SHOWN rows whatever it shows, so a refresh never moves the page.
 */
export class RecommendationsView {
  readonly root: HTMLElement;
  private readonly heading: HTMLElement;
  private readonly sourceNote: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly stateBadge: HTMLElement;
  private shown: RecsSnapshot = { heading: '', items: [], version: null };

  constructor(readonly kind: ModelKind, private titles: readonly string[]) {
    this.heading = el('h2', { 'data-testid': 'recs-heading' }, 'Popular now');
    this.sourceNote = el('p', { class: 'muted small source-note', 'data-testid': 'recs-source' });
    this.stateBadge = el('span', { class: 'state-badge', 'data-testid': 'recs-state' });
    this.list = el('ol', { class: 'recs-list', 'data-testid': 'recommendations', 'aria-live': 'polite' });
    this.root = el(
      'section',
      { class: 'panel recs-panel', 'data-testid': `recs-${kind}`, 'data-model': kind, 'aria-label': MODEL_LABELS[kind] },
      el('div', { class: 'recs-head' }, this.heading, this.stateBadge),
      el('p', { class: 'muted small model-label' }, MODEL_LABELS[kind]),
      this.list,
      this.sourceNote,
    );
    this.show([], null);
  }

  titleOf(item: number): string {
    return this.titles[item] ?? `Item ${item}`;
  }

  setTitles(titles: readonly string[]): void {
    this.titles = titles;
  }

  setHeading(text: string): void {
    if (this.heading.textContent !== text) {
      this.heading.textContent = text;
      this.heading.title = text; // one line on screen; the whole heading on hover
    }
    this.shown = { ...this.shown, heading: text };
  }

  /** The model's training state in a word, next to its recommendations (the status panel has the sentence). */
  setState(state: string, text: string): void {
    const word = state.replace(/-/g, ' ');
    if (this.stateBadge.textContent !== word) this.stateBadge.textContent = word;
    this.stateBadge.dataset.state = state;
    this.stateBadge.title = text;
  }

  /** Where the last personal list was scored (data-scored-in): 'worker' or 'main-thread'. */
  setScoredIn(where: 'worker' | 'main-thread'): void {
    this.root.dataset.scoredIn = where;
  }

  /** What the panel shows now, for the tabs that follow this one (client/app/state-mirror.ts). */
  snapshot(): RecsSnapshot {
    return this.shown;
  }

  /** Shows what another tab's panel shows. */
  apply(s: RecsSnapshot): void {
    this.setHeading(s.heading);
    this.show(s.items, s.version, s.note, s.source);
  }

  show(items: readonly number[], version: number | null, note?: string, source?: RecsSource): void {
    this.shown = {
      heading: this.heading.textContent ?? '',
      items: [...items],
      version,
      ...(note === undefined ? {} : { note }),
      ...(source === undefined ? {} : { source }),
    };
    if (items.length === 0) {
      this.list.replaceChildren(el('li', { class: 'empty muted' }, note ?? 'Like a few items to get recommendations'));
    } else {
      this.list.replaceChildren(
        ...items.map((item) => {
          const title = this.titleOf(item);
          return el('li', { 'data-testid': 'rec-item', 'data-item-id': String(item), title }, title);
        }),
      );
    }
    const text = source ? SOURCE_NOTES[source] : '';
    if (this.sourceNote.textContent !== text) this.sourceNote.textContent = text;
    this.root.dataset.source = source ?? '';
    this.root.dataset.recsVersion = version === null ? '' : String(version);
  }
}
