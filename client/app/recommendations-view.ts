import { el } from './dom.ts';

/** Top-k recommendations in rank order, or a hint when there are none yet. */
export class RecommendationsView {
  private readonly list: HTMLOListElement;

  constructor(root: HTMLElement, private readonly titles: readonly string[]) {
    this.list = el('ol', { class: 'recs-list', 'data-testid': 'recommendations' });
    root.replaceChildren(this.list);
    this.show([], null);
  }

  titleOf(item: number): string {
    return this.titles[item] ?? `Item ${item}`;
  }

  setHeading(text: string): void {
    const heading = document.querySelector<HTMLElement>('[data-testid=recs-heading]');
    if (heading) heading.textContent = text;
  }

  show(items: readonly number[], version: number | null, note?: string): void {
    if (items.length === 0) {
      this.list.replaceChildren(el('li', { class: 'empty muted' }, note ?? 'Like a few items to get recommendations'));
    } else {
      this.list.replaceChildren(
        ...items.map((item) => el('li', { 'data-testid': 'rec-item', 'data-item-id': String(item) }, this.titleOf(item))),
      );
    }
    document.body.dataset.recsVersion = version === null ? '' : String(version);
  }
}
