import { el } from './dom.ts';

/**
 * Rows per page: all of a demo-sized catalog (the synthetic 400 and the items an operator
 * adds), pages of a large one (ML-100K's 1,682; 100,000), where search is the way in.
 * The list scrolls inside its panel, so the page never grows with it.
 */
export const CATALOG_PAGE_SIZE = 500;

export interface CatalogHandlers {
  onLike(item: number): void;
  onUnlike(item: number): void;
  onRate(item: number, rating: number): void;
}

/** What the person did with an item: liked (a click) and/or rated 1–5 (the latest rating). */
export interface ItemMark {
  readonly rating: number | null;
}

/**
 * The searchable catalog, a page at a time: each item likeable (and unlikeable) and
 * rateable, the rating menu showing the rating given. It re-renders from a new catalog
 * (items added; retired items hidden) without losing the search or the page.
 */
export class CatalogView {
  private readonly list: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly count: HTMLElement;
  private readonly prev: HTMLButtonElement;
  private readonly next: HTMLButtonElement;
  private readonly marks = new Map<number, ItemMark>();
  private page = 0;
  private titles: readonly string[];
  private retired: ReadonlySet<number> = new Set();

  constructor(root: HTMLElement, titles: readonly string[], private readonly handlers: CatalogHandlers) {
    this.titles = titles;
    this.input = el('input', { type: 'search', placeholder: `Search ${titles.length} items…`, 'data-testid': 'catalog-filter', 'aria-label': 'Search the catalog' });
    this.count = el('span', { class: 'muted small', 'data-testid': 'catalog-count', 'aria-live': 'polite' });
    this.list = el('ul', { class: 'catalog-list', 'data-testid': 'catalog' });
    this.prev = el('button', { type: 'button', class: 'secondary', 'data-testid': 'catalog-prev' }, '‹ Previous');
    this.next = el('button', { type: 'button', class: 'secondary', 'data-testid': 'catalog-next' }, 'Next ›');
    this.prev.addEventListener('click', () => this.turn(-1));
    this.next.addEventListener('click', () => this.turn(1));
    this.input.addEventListener('input', () => {
      this.page = 0;
      this.render();
    });
    root.replaceChildren(
      el('div', { class: 'catalog-toolbar' }, this.input),
      this.list,
      el('div', { class: 'pager' }, this.prev, this.count, this.next),
    );
    this.render();
  }

  /** A new catalog: more items, or some retired (never shown, never recommended). */
  setCatalog(titles: readonly string[], retired: ReadonlySet<number>): void {
    this.titles = titles;
    this.retired = retired;
    this.input.placeholder = `Search ${titles.length - retired.size} items…`;
    this.render();
  }

  /** What the person did with an item (null: nothing, e.g. after unliking it). */
  mark(item: number, mark: ItemMark | null): void {
    if (mark) this.marks.set(item, mark);
    else this.marks.delete(item);
    const row = this.list.querySelector<HTMLElement>(`[data-item-id="${item}"]`);
    if (row) this.decorate(row, item);
  }

  marked(item: number): ItemMark | undefined {
    return this.marks.get(item);
  }

  private turn(delta: number): void {
    this.page += delta;
    this.render();
    this.list.querySelector<HTMLElement>('button')?.focus({ preventScroll: true });
    this.list.scrollTop = 0;
  }

  private matches(): number[] {
    const query = this.input.value.trim().toLowerCase();
    const out: number[] = [];
    for (let i = 0; i < this.titles.length; i++) {
      if (this.retired.has(i)) continue;
      if (query && !this.titles[i].toLowerCase().includes(query)) continue;
      out.push(i);
    }
    return out;
  }

  private render(): void {
    const matches = this.matches();
    const pages = Math.max(1, Math.ceil(matches.length / CATALOG_PAGE_SIZE));
    this.page = Math.min(Math.max(0, this.page), pages - 1);
    const from = this.page * CATALOG_PAGE_SIZE;
    const shown = matches.slice(from, from + CATALOG_PAGE_SIZE);
    this.list.replaceChildren(...(shown.length > 0 ? shown.map((i) => this.row(i)) : [el('li', { class: 'empty muted' }, 'No item matches this search.')]));
    this.count.textContent = matches.length === 0 ? 'no matches' : `${from + 1}–${from + shown.length} of ${matches.length}`;
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
    // One page: no pager buttons (they keep their room, so nothing moves when a search narrows the list).
    this.prev.style.visibility = this.next.style.visibility = pages === 1 ? 'hidden' : '';
  }

  private row(item: number): HTMLElement {
    const title = this.titles[item];
    const like = el('button', { type: 'button', 'data-testid': 'like', class: 'like', 'aria-label': `Like ${title}` }, 'Like');
    like.addEventListener('click', () => (this.marks.has(item) ? this.handlers.onUnlike(item) : this.handlers.onLike(item)));
    const rate = el('select', { 'data-testid': 'rate', 'aria-label': `Rate ${title}` }, el('option', { value: '' }, 'Rate…'));
    for (let r = 1; r <= 5; r++) rate.append(el('option', { value: String(r) }, '★'.repeat(r)));
    rate.addEventListener('change', () => {
      const rating = Number(rate.value);
      if (rating >= 1 && rating <= 5) this.handlers.onRate(item, rating);
    });
    const row = el(
      'li',
      { class: 'catalog-item', 'data-testid': 'catalog-item', 'data-item-id': String(item) },
      el('span', { class: 'title', title }, title),
      like,
      rate,
    );
    this.decorate(row, item);
    return row;
  }

  private decorate(row: HTMLElement, item: number): void {
    const mark = this.marks.get(item);
    row.classList.toggle('liked', mark !== undefined);
    row.dataset.liked = mark !== undefined ? 'true' : 'false';
    const like = row.querySelector<HTMLButtonElement>('button.like');
    if (like) {
      like.textContent = mark ? 'Unlike' : 'Like';
      like.setAttribute('aria-pressed', mark ? 'true' : 'false');
      like.setAttribute('aria-label', `${mark ? 'Unlike' : 'Like'} ${this.titles[item]}`);
    }
    const rate = row.querySelector<HTMLSelectElement>('select');
    // The menu keeps the rating given, whatever re-rendered the row.
    if (rate) rate.value = mark?.rating ? String(mark.rating) : '';
  }
}
