/**
 * One catalog change applied to a served model: version v+1 whose item tables have the
 * new rows (shared/model/grow-item-tables.ts: free rows zero for MF, the tower gives the
 * vector; SASRec rows from their initialiser), written atomically by the checkpoint store
 * with the server optimizer's moments grown alike (and, under DP, the unchanged privacy
 * record: a version that released nothing spends nothing). The optimizer's state changes
 * only once the save succeeded.
 */
import type { ServerOptimizer } from '../../shared/aggregate/server-optimizer.ts';
import { growGlobals, growMoments } from '../../shared/model/grow-item-tables.ts';
import { createModel, type ModelDescriptor } from '../../shared/model/model-registry.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { toWireTensors } from '../../shared/update/tensor-codec.ts';
import type { CheckpointStore } from '../store/checkpoint-store.ts';
import type { PrivacyRecord } from '../store/privacy-record.ts';

export interface GrowVersionInput {
  readonly store: CheckpointStore;
  readonly optimizer: ServerOptimizer;
  readonly from: ModelSpec;
  readonly next: ModelDescriptor;
  readonly globals: NamedTensors;
  readonly version: number;
  /** The last round (the grown version is not a round's result). */
  readonly round: number;
  /** Seeds the new rows of models that do not start them at zero. */
  readonly seed: number;
  /** modelKind tag of the server optimizer's state file (serverStateTag). */
  readonly serverStateTag: string;
  readonly privacyRecord?: PrivacyRecord;
}

export async function saveGrownVersion(g: GrowVersionInput): Promise<{ spec: ModelSpec; globals: NamedTensors }> {
  const spec = createModel(g.next).spec;
  const globals = growGlobals(g.from, spec, g.globals, g.seed);
  const moments = g.optimizer.config.kind === 'sgd' ? undefined : growMoments(spec, g.optimizer.state());
  await g.store.save(
    { version: g.version, round: g.round, modelKind: spec.kind, tensors: toWireTensors(spec, globals) },
    moments && { version: g.version, round: g.round, modelKind: g.serverStateTag, tensors: Object.entries(moments).map(([name, data]) => ({ name, shape: [data.length], data })) },
    g.privacyRecord,
  );
  if (moments) g.optimizer.loadState(moments);
  return { spec, globals };
}
