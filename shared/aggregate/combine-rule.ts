/**
 * The `combine` stage: turns a round's validated, weighted, norm-bounded updates into
 * the one delta the server optimizer steps on. One implementation per rule, each in its
 * own file with its paper:
 *   mean               mean-combine.ts                 (FedAvg, streaming)
 *   trimmed-mean:β     coordinate-trimmed-mean.ts      (Yin et al. 2018)
 *   median             coordinate-median.ts            (Yin et al. 2018)
 *   centered-clipping  centered-clipping.ts            (Karimireddy, He & Jaggi 2021)
 * What a coordinate-wise rule does with row-sparse embedding tables is decided once, in
 * coordinate-wise.ts.
 */
import type { ModelSpec } from '../model/model-spec.ts';
import type { AggregationSettings } from './aggregation-settings.ts';
import { CenteredClippingCombine } from './centered-clipping.ts';
import { CoordinateMedianCombine } from './coordinate-median.ts';
import { CoordinateTrimmedMeanCombine } from './coordinate-trimmed-mean.ts';
import type { Combiner } from './combiner.ts';
import { MeanCombine } from './mean-combine.ts';

export type { Combiner } from './combiner.ts';

/** Updates a storing rule keeps per round unless told otherwise: ≤ 1024 × one update's stored size. */
export const DEFAULT_MAX_STORED_UPDATES = 1024;

export function createCombiner(spec: ModelSpec, settings: AggregationSettings, maxUpdates?: number): Combiner {
  const c = settings.combine;
  const keep = maxUpdates ?? DEFAULT_MAX_STORED_UPDATES;
  switch (c.kind) {
    case 'mean':
      return new MeanCombine(spec, settings.rowNormalize, maxUpdates ?? Infinity);
    case 'trimmed-mean':
      return new CoordinateTrimmedMeanCombine(spec, settings.rowNormalize, keep, c.trim);
    case 'median':
      return new CoordinateMedianCombine(spec, settings.rowNormalize, keep);
    case 'centered-clipping':
      return new CenteredClippingCombine(spec, settings.rowNormalize, keep, c, settings.clipNorm);
  }
}
