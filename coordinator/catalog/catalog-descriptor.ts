import { FlockError } from '../../shared/errors.ts';
import type { ModelDescriptor, ModelKind } from '../../shared/model/model-registry.ts';
import { DEFAULT_FEATURE_BUCKETS, itemFeatureTable } from '../../shared/model/item-feature-tower.ts';
import { modelDescriptor, type ServeConfig } from '../serve-config.ts';
import type { CatalogView } from './catalog-store.ts';

/** `flock serve --item-features on|off [--feature-buckets N]`. */
export interface CatalogSettings {
  /** The MF model's item feature tower (shared/model/item-feature-tower.ts). */
  readonly itemFeatures: boolean;
  readonly featureBuckets: number;
}

/**
 * Off for a coordinator started from code (tests, benches: the MF model's shapes stay the
 * plain ones unless asked); `flock serve` turns it on by default (SERVE_ITEM_FEATURES), so
 * the web app's MF model scores items nobody has interacted with yet (README, "A growing catalog").
 */
export const DEFAULT_CATALOG_SETTINGS: CatalogSettings = { itemFeatures: false, featureBuckets: DEFAULT_FEATURE_BUCKETS };

/** `flock serve --item-features` default. */
export const SERVE_ITEM_FEATURES = true;

/**
 * The descriptor of one model for a catalog state: its item count, the MF model's item
 * features (when the tower is on and the catalog has any) and the retired items.
 */
export function catalogDescriptor(config: Pick<ServeConfig, 'dim' | 'sequence'>, kind: ModelKind, view: CatalogView, settings: CatalogSettings): ModelDescriptor {
  const base = modelDescriptor(config, kind, view.numItems);
  const retired = view.retired.length > 0 ? { retiredItems: [...view.retired] } : {};
  if (base.kind !== 'mf') return { ...base, ...retired };
  const tower = settings.itemFeatures && view.features.some((f) => f.length > 0);
  return { ...base, ...(tower ? { itemFeatures: itemFeatureTable(view.features, settings.featureBuckets) } : {}), ...retired };
}

/** `--item-features on|off` → boolean, or a typed 'bad-config' error. */
export function parseOnOff(flag: string, v: string): boolean {
  if (v === 'on' || v === 'off') return v === 'on';
  throw new FlockError('bad-config', `${flag} must be on or off, got '${v}'`);
}
