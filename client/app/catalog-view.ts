import { el } from './dom.ts';

const VISIBLE_ITEMS = 60;

export interface CatalogHandlers {
  onLike(item: number): void;
  onRate(item: number, rating: number): void;
}

/** The searchable catalog: a filter box and the first matching items, each likeable and rateable. */
export class CatalogView {
  private readonly list: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly count: HTMLElement;
  private readonly marked = new Map<number, string>();

  constructor(
    private readonly root: HTMLElement,
    private readonly titles: readonly string[],
    private readonly handlers: CatalogHandlers,
  ) {
    this.input = el('input', { type: 'search', placeholder: `Search ${titles.length} items…`, 'data-testid': 'catalog-filter', 'aria-label': 'Search the catalog' });
    this.count = el('span', { class: 'muted' });
    this.list = el('ul', { class: 'catalog-list', 'data-testid': 'catalog' });
    this.input.addEventListener('input', () => this.render());
    root.replaceChildren(el('div', { class: 'catalog-toolbar' }, this.input, this.count), this.list);
    this.render();
  }

  /** Marks an item as liked or rated (label shown next to it). */
  mark(item: number, label: string): void {
    this.marked.set(item, label);
    const row = this.list.querySelector<HTMLElement>(`[data-item-id="${item}"]`);
    if (row) this.decorate(row, item);
  }

  private render(): void {
    const query = this.input.value.trim().toLowerCase();
    const rows: HTMLElement[] = [];
    let matches = 0;
    for (let i = 0; i < this.titles.length; i++) {
      if (query && !this.titles[i].toLowerCase().includes(query)) continue;
      matches++;
      if (rows.length < VISIBLE_ITEMS) rows.push(this.row(i));
    }
    this.list.replaceChildren(...rows);
    this.count.textContent = matches > rows.length ? `showing ${rows.length} of ${matches}` : `${matches} items`;
  }

  private row(item: number): HTMLElement {
    const like = el('button', { type: 'button', 'data-testid': 'like', class: 'like' }, 'Like');
    like.addEventListener('click', () => this.handlers.onLike(item));
    const rate = el('select', { 'data-testid': 'rate', 'aria-label': `Rate ${this.titles[item]}` }, el('option', { value: '' }, 'Rate…'));
    for (let r = 1; r <= 5; r++) rate.append(el('option', { value: String(r) }, '★'.repeat(r)));
    rate.addEventListener('change', () => {
      const rating = Number(rate.value);
      if (rating >= 1 && rating <= 5) this.handlers.onRate(item, rating);
    });
    const row = el(
      'li',
      { class: 'catalog-item', 'data-testid': 'catalog-item', 'data-item-id': String(item) },
      el('span', { class: 'title' }, this.titles[item]),
      el('span', { class: 'badge' }),
      like,
      rate,
    );
    this.decorate(row, item);
    return row;
  }

  private decorate(row: HTMLElement, item: number): void {
    const label = this.marked.get(item);
    row.classList.toggle('liked', label !== undefined);
    row.dataset.liked = label !== undefined ? 'true' : 'false';
    const badge = row.querySelector<HTMLElement>('.badge');
    if (badge) badge.textContent = label ?? '';
  }
}
