/**
 * The coordinator's catalog: the data set's items (ids 0..base−1, their titles and
 * features) plus the items an operator added since (ids base, base+1, … in order of
 * addition) and the set of retired ones. Every change bumps the catalog version and is
 * written to `<data dir>/catalog.json` atomically (writeDurable, as the checkpoint
 * store's manifest) before it is visible, so a restart resumes the same catalog.
 *
 * Input is validated (zod: title length, feature count and length, the item cap); a
 * refused change is a FlockError and changes nothing, in memory or on disk.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Dataset } from '../../shared/data/interactions.ts';
import { FlockError } from '../../shared/errors.ts';
import { MAX_FEATURES_PER_ITEM } from '../../shared/model/item-feature-tower.ts';
import { exists, writeDurable } from '../store/durable-file.ts';

export const CATALOG_FILE = 'catalog.json';
/** The most items an operator may add to one coordinator's catalog. */
export const MAX_ADDED_ITEMS = 10_000;
export const MAX_TITLE_CHARS = 200;
export const MAX_FEATURE_CHARS = 64;

/** What an operator sends to add an item. */
export const NewItemSchema = z
  .object({
    title: z.string().trim().min(1, 'title must not be empty').max(MAX_TITLE_CHARS, `title: at most ${MAX_TITLE_CHARS} characters`),
    features: z
      .array(z.string().trim().min(1, 'a feature must not be empty').max(MAX_FEATURE_CHARS, `a feature: at most ${MAX_FEATURE_CHARS} characters`))
      .max(MAX_FEATURES_PER_ITEM, `at most ${MAX_FEATURES_PER_ITEM} features`)
      .default([]),
  })
  .strict();
export type NewItem = z.infer<typeof NewItemSchema>;

const AddedItemSchema = z.object({ title: z.string(), features: z.array(z.string()), addedAt: z.number() });
const CatalogFileSchema = z.object({
  version: z.number().int().nonnegative(),
  base: z.object({ name: z.string(), items: z.number().int().nonnegative() }),
  added: z.array(AddedItemSchema),
  retired: z.array(z.number().int().nonnegative()),
});
type CatalogFile = z.infer<typeof CatalogFileSchema>;

/** One catalog state: what /api/catalog serves and the models are described from. */
export interface CatalogView {
  readonly version: number;
  readonly name: string;
  readonly numItems: number;
  readonly titles: readonly string[];
  /** Feature names per item (empty lists where the data set has none). */
  readonly features: readonly (readonly string[])[];
  /** Retired item ids, ascending. */
  readonly retired: readonly number[];
}

export class CatalogStore {
  private readonly listeners = new Set<(view: CatalogView) => void>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly dataDir: string,
    private readonly dataset: Dataset,
    private file: CatalogFile,
  ) {}

  /** Opens the catalog of `dataDir` (a new one at version 0 when there is none); refuses one written for another data set. */
  static async open(dataDir: string, dataset: Dataset): Promise<CatalogStore> {
    const path = `${dataDir}/${CATALOG_FILE}`;
    const fresh: CatalogFile = { version: 0, base: { name: dataset.name, items: dataset.numItems }, added: [], retired: [] };
    if (!(await exists(path))) return new CatalogStore(dataDir, dataset, fresh);
    const parsed = CatalogFileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    if (!parsed.success) throw new FlockError('store-damaged', `${path} is not a catalog file: ${parsed.error.issues[0]?.message}. Move it aside to start the catalog over.`);
    const f = parsed.data;
    if (f.base.name !== dataset.name || f.base.items !== dataset.numItems) {
      throw new FlockError('bad-config', `${path} extends the catalog '${f.base.name}' of ${f.base.items} items, not '${dataset.name}' of ${dataset.numItems} (other --data?). Use another --data-dir.`);
    }
    const total = f.base.items + f.added.length;
    if (f.retired.some((i) => i >= total)) throw new FlockError('store-damaged', `${path} retires an item past its ${total} items`);
    return new CatalogStore(dataDir, dataset, f);
  }

  /** The current catalog. */
  get view(): CatalogView {
    const { dataset, file } = this;
    const features = dataset.itemFeatures ?? [];
    return {
      version: file.version,
      name: dataset.name,
      numItems: dataset.numItems + file.added.length,
      titles: [...dataset.titles, ...file.added.map((a) => a.title)],
      features: [...Array.from({ length: dataset.numItems }, (_, i) => features[i] ?? []), ...file.added.map((a) => a.features)],
      retired: [...file.retired].sort((a, b) => a - b),
    };
  }

  /** The most items this catalog may ever hold (the data set's and MAX_ADDED_ITEMS added). */
  get maxItems(): number {
    return this.dataset.numItems + MAX_ADDED_ITEMS;
  }

  /** Called after every change, with the new view. */
  onChange(fn: (view: CatalogView) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Adds an item (validated with NewItemSchema); resolves with its id once written. */
  add(raw: unknown): Promise<{ id: number; view: CatalogView }> {
    const parsed = NewItemSchema.safeParse(raw);
    if (!parsed.success) return Promise.reject(new FlockError('malformed', `new item: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`));
    return this.change((f) => {
      if (f.added.length >= MAX_ADDED_ITEMS) throw new FlockError('too-large', `the catalog already holds ${MAX_ADDED_ITEMS} added items, the most allowed`);
      const id = f.base.items + f.added.length;
      return { next: { ...f, version: f.version + 1, added: [...f.added, { title: parsed.data.title, features: parsed.data.features, addedAt: Date.now() }] }, id };
    });
  }

  /** Retires an item: it is never recommended nor sampled as a negative again. */
  retire(id: number): Promise<{ id: number; view: CatalogView }> {
    return this.change((f) => {
      const total = f.base.items + f.added.length;
      if (!Number.isInteger(id) || id < 0 || id >= total) throw new FlockError('not-found', `no item ${id} in the catalog (ids 0..${total - 1})`);
      if (f.retired.includes(id)) throw new FlockError('duplicate', `item ${id} is already retired`);
      return { next: { ...f, version: f.version + 1, retired: [...f.retired, id] }, id };
    });
  }

  /** One change at a time: computed, written, then made visible and announced. */
  private change(fn: (f: CatalogFile) => { next: CatalogFile; id: number }): Promise<{ id: number; view: CatalogView }> {
    const run = this.queue.then(async () => {
      const { next, id } = fn(this.file);
      await writeDurable(this.dataDir, CATALOG_FILE, JSON.stringify(next, null, 1), 'replace');
      this.file = next;
      const view = this.view;
      for (const l of this.listeners) l(view);
      return { id, view };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}
