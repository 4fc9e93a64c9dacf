import { el } from './dom.ts';

/** "Your likes": what the person liked or rated, newest first, each with an Unlike button. */
export class LikesView {
  private readonly list: HTMLElement;
  private readonly count: HTMLElement;

  constructor(root: HTMLElement, private titles: readonly string[], private readonly onUnlike: (item: number) => void) {
    this.count = el('span', { class: 'muted small', 'data-testid': 'likes-count' });
    this.list = el('ul', { class: 'likes-list', 'data-testid': 'likes' });
    root.replaceChildren(el('h2', {}, 'Your likes ', this.count), this.list);
    this.show([]);
  }

  setTitles(titles: readonly string[]): void {
    this.titles = titles;
  }

  /** Items in the order to show them, each with its rating (null for a like without one). */
  show(items: readonly { item: number; rating: number | null }[]): void {
    this.count.textContent = items.length === 0 ? '' : `(${items.length})`;
    if (items.length === 0) {
      this.list.replaceChildren(el('li', { class: 'empty muted' }, 'Nothing yet: like or rate items in the catalog. They stay in this browser.'));
      return;
    }
    this.list.replaceChildren(
      ...items.map(({ item, rating }) => {
        const title = this.titles[item] ?? `Item ${item}`;
        const unlike = el('button', { type: 'button', class: 'secondary', 'data-testid': 'unlike', 'aria-label': `Unlike ${title}` }, 'Unlike');
        unlike.addEventListener('click', () => this.onUnlike(item));
        return el(
          'li',
          { 'data-testid': 'like-item', 'data-item-id': String(item) },
          el('span', { class: 'title', title }, title),
          el('span', { class: 'badge' }, rating ? '★'.repeat(rating) : 'Liked'),
          unlike,
        );
      }),
    );
  }
}
