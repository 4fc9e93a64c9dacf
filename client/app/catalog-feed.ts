import { CatalogResponseSchema, type CatalogResponse } from '../../shared/protocol/messages.ts';

/**
 * Keeps the page's catalog current: an operator's change (items added or retired,
 * coordinator/catalog/) arrives as a new model version, so whenever the versions the
 * page holds change, /api/catalog is read again and, when its catalog version moved,
 * handed to `onCatalog` (titles for new items, the retired set).
 */
export class CatalogFeed {
  private seenVersions = '';
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly server: string,
    private catalogVersion: number | undefined,
    private readonly onCatalog: (catalog: CatalogResponse) => void,
  ) {}

  /** The model versions the page holds now (called on every state change; cheap when nothing moved). */
  modelVersions(versions: Iterable<number | null>): void {
    const key = [...versions].join(',');
    if (key === this.seenVersions) return;
    this.seenVersions = key;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.refresh().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.seenVersions = '';
        this.modelVersions(key.split(',').map((v) => (v === '' ? null : Number(v))));
      }
    });
  }

  private async refresh(): Promise<void> {
    try {
      // A plain GET: /api/catalog is served no-cache, so the browser revalidates (ETag). Page-set
      // cache headers would fall outside the sent-traffic allow-list (e2e/harness).
      const res = await fetch(`${this.server}/api/catalog`);
      if (!res.ok) return;
      const catalog = CatalogResponseSchema.parse(await res.json());
      if (catalog.version === this.catalogVersion) return;
      this.catalogVersion = catalog.version;
      this.onCatalog(catalog);
    } catch (err) {
      console.warn('could not refresh the catalog:', err);
    }
  }
}
