import type { ModelKind } from '../../shared/model/model-registry.ts';
import { el } from './dom.ts';
import { MODEL_LABELS } from './model-labels.ts';
import type { RecsSnapshot } from './state-mirror.ts';

/**
 * One model's top-k recommendations in rank order, or a hint when there are none yet,
 * in a panel of its own (data-testid "recs-<kind>"; data-recs-version is the global
 * version the list was computed from).
 */
export class RecommendationsView {
  readonly root: HTMLElement;
  private readonly heading: HTMLElement;
  private readonly list: HTMLOListElement;
  private shown: RecsSnapshot = { heading: '', items: [], version: null };

  constructor(readonly kind: ModelKind, private readonly titles: readonly string[]) {
    this.heading = el('h2', { 'data-testid': 'recs-heading' }, 'Recommended for you');
    this.list = el('ol', { class: 'recs-list', 'data-testid': 'recommendations' });
    this.root = el(
      'section',
      { class: 'panel recs-panel', 'data-testid': `recs-${kind}`, 'data-model': kind },
      this.heading,
      el('p', { class: 'muted small model-label' }, MODEL_LABELS[kind]),
      this.list,
    );
    this.show([], null);
  }

  titleOf(item: number): string {
    return this.titles[item] ?? `Item ${item}`;
  }

  setHeading(text: string): void {
    if (this.heading.textContent !== text) this.heading.textContent = text;
    this.shown = { ...this.shown, heading: text };
  }

  /** What the panel shows now, for the tabs that follow this one (client/app/state-mirror.ts). */
  snapshot(): RecsSnapshot {
    return this.shown;
  }

  /** Shows what another tab's panel shows. */
  apply(s: RecsSnapshot): void {
    this.setHeading(s.heading);
    this.show(s.items, s.version, s.note);
  }

  show(items: readonly number[], version: number | null, note?: string): void {
    this.shown = { heading: this.heading.textContent ?? '', items: [...items], version, ...(note === undefined ? {} : { note }) };
    if (items.length === 0) {
      this.list.replaceChildren(el('li', { class: 'empty muted' }, note ?? 'Like a few items to get recommendations'));
    } else {
      this.list.replaceChildren(
        ...items.map((item) => el('li', { 'data-testid': 'rec-item', 'data-item-id': String(item) }, this.titleOf(item))),
      );
    }
    this.root.dataset.recsVersion = version === null ? '' : String(version);
  }
}
