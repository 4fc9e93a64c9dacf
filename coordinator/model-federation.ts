import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Server } from 'socket.io';
import { FlockError } from '../shared/errors.ts';
import { initParams } from '../shared/model/init-params.ts';
import { createModel, type ModelDescriptor, type ModelKind } from '../shared/model/model-registry.ts';
import type { ModelSpec } from '../shared/model/model-spec.ts';
import { modelNamespace } from '../shared/protocol/model-routes.ts';
import { fromWireTensors, toWireTensors } from '../shared/update/tensor-codec.ts';
import { RoundEngine, serverStateTag } from './rounds/round-engine.ts';
import { openRoundPrivacy } from './rounds/round-privacy.ts';
import type { RoundObserver } from './rounds/round-observer.ts';
import type { NamedTensors } from '../shared/tensor/named-tensors.ts';
import type { ServeConfig } from './serve-config.ts';
import { createServerOptimizer } from '../shared/aggregate/server-optimizer.ts';
import { canGrow } from '../shared/model/grow-item-tables.ts';
import { deriveSeed } from '../shared/random/seeded-random.ts';
import type { WeightsFile } from '../shared/update/tensor-codec.ts';
import { catalogDescriptor, DEFAULT_CATALOG_SETTINGS, type CatalogSettings } from './catalog/catalog-descriptor.ts';
import type { CatalogView } from './catalog/catalog-store.ts';
import { saveGrownVersion } from './catalog/grow-model-version.ts';
import type { RoundPrivacy } from './rounds/round-privacy.ts';
import { CheckpointStore } from './store/checkpoint-store.ts';
import { drillPauseFromEnv, PAUSE_ENV } from './store/drill-pause.ts';

/**
 * One model the coordinator federates: its descriptor, its own checkpoint store and
 * round engine. `descriptor` and `spec` are those of the current version: they change
 * when the catalog grows (coordinator/catalog/).
 */
export interface ModelFederation {
  readonly kind: ModelKind;
  readonly descriptor: ModelDescriptor;
  readonly spec: ModelSpec;
  readonly store: CheckpointStore;
  readonly engine: RoundEngine;
}

/** The GLOBAL parameters a stored version holds, as a spec (what growGlobals grows from). */
const storedSpec = (w: WeightsFile): ModelSpec => ({
  kind: w.modelKind,
  params: w.tensors.map((t) => ({ name: t.name, shape: [...t.shape], scope: 'global' as const, init: { kind: 'zeros' as const } })),
});

/** Where one model's versions, manifest and round log live: a folder per model under --data-dir. */
export const modelDataDir = (dataDir: string, kind: ModelKind): string => path.join(dataDir, kind);

const exists = (p: string) => access(p).then(() => true, () => false);

/**
 * Refuses a data dir written before coordinators federated several models (its
 * manifest.json sits at the top level) instead of silently starting over beside it.
 */
export async function refuseSingleModelLayout(dataDir: string): Promise<void> {
  if (await exists(path.join(dataDir, 'manifest.json'))) {
    throw new FlockError('bad-config', `data dir ${dataDir} has the single-model layout (manifest.json at its top). Each model now has its own folder: move manifest.json, versions/ and rounds.jsonl into ${path.join(dataDir, '<model>')} (e.g. mf), or use another --data-dir.`);
  }
}

/**
 * Opens one model's federation: resumes its newest complete version (refusing a
 * folder whose stored model or shapes do not match this configuration) or writes
 * initial weights as version store.nextVersion() (0 in a new folder), then starts its
 * round engine on the model's own socket.io namespace. A damaged store is repaired or
 * refused by CheckpointStore.open (coordinator/store/store-recovery.ts). Under
 * differential privacy the budget resumes from the saved versions' privacy records, or
 * the start is refused where it cannot (coordinator/rounds/round-privacy.ts).
 */
export async function openModelFederation(
  io: Server,
  config: ServeConfig,
  kind: ModelKind,
  catalog: CatalogView,
  log: Logger,
  observer?: RoundObserver,
  catalogSettings: CatalogSettings = DEFAULT_CATALOG_SETTINGS,
): Promise<ModelFederation> {
  const descriptor = catalogDescriptor(config, kind, catalog, catalogSettings);
  const { spec } = createModel(descriptor);
  const dir = modelDataDir(config.dataDir, kind);
  const store = await CheckpointStore.open(dir, {
    onWarning: (m) => log.warn({ model: kind }, m),
    faults: drillPauseFromEnv(process.env[PAUSE_ENV], (fields, msg) => log.warn({ model: kind, ...fields }, msg)),
  });

  let latest = await store.latest();
  if (latest && latest.modelKind !== spec.kind) {
    throw new FlockError('bad-config', `${dir} holds a '${latest.modelKind}' model, not '${spec.kind}'. Use another --data-dir.`);
  }
  // The catalog grew since the stored version (items added, or the feature tower switched on): grown below.
  let growFrom: ModelSpec | undefined;
  if (latest) {
    const stored = new Map(latest.tensors.map((t) => [t.name, t.shape.join('×')]));
    const mismatch = spec.params.find((p) => p.scope === 'global' && stored.get(p.name) !== p.shape.join('×'));
    if (mismatch && canGrow(storedSpec(latest), spec)) growFrom = storedSpec(latest);
    else if (mismatch) {
      throw new FlockError('bad-config', `${dir} holds '${mismatch.name}' of shape ${stored.get(mismatch.name) ?? 'none'}, this configuration needs ${mismatch.shape.join('×')} (other --data, --dim or model settings?). Use another --data-dir.`);
    }
    log.info({ model: kind, version: latest.version, round: latest.round, dir }, 'resumed from checkpoint');
  }
  // Before anything is written: a folder DP cannot resume is refused unchanged.
  const privacy = await openRoundPrivacy(store, kind, latest ?? { version: store.nextVersion(), round: 0 }, config, log);
  if (latest && growFrom) latest = await growStoredVersion(store, latest, growFrom, descriptor, config, log, privacy);
  if (!latest) {
    // 0 in a new folder; past every number used before when only moved-aside files remain.
    const version = store.nextVersion();
    latest = { version, round: 0, modelKind: spec.kind, tensors: toWireTensors(spec, initParams(spec, 'global', config.seed)) };
    await store.save(latest, undefined, privacy?.currentRecord(version, 0));
    log.info({ model: kind, dir, version }, `initialised version ${version}`);
  }
  const lastRound = Math.max(latest.round, ...((await store.rounds(1)) as { round: number }[]).map((r) => r.round));
  const engine = new RoundEngine(io.of(modelNamespace(kind)), { store, spec, descriptor, config, log, observer, privacy }, {
    version: latest.version,
    round: lastRound,
    globals: fromWireTensors(latest.tensors),
    serverState: await resumeServerState(store, kind, latest.version, config, log),
  });
  return {
    kind,
    store,
    engine,
    get descriptor() {
      return engine.currentDescriptor;
    },
    get spec() {
      return engine.currentSpec;
    },
  };
}

/** Resuming after the catalog grew: the stored version's grown successor, written before any round (grow-model-version.ts). */
async function growStoredVersion(store: CheckpointStore, latest: WeightsFile, from: ModelSpec, next: ModelDescriptor, config: ServeConfig, log: Logger, privacy: RoundPrivacy | undefined): Promise<WeightsFile> {
  const optimizer = createServerOptimizer({ ...config.serverOptimizer, learningRate: config.serverLearningRate });
  const state = await resumeServerState(store, next.kind, latest.version, config, log);
  if (state) optimizer.loadState(state);
  const version = Math.max(latest.version + 1, store.nextVersion());
  const grown = await saveGrownVersion({
    store, optimizer, from, next, globals: fromWireTensors(latest.tensors), version, round: latest.round,
    seed: deriveSeed(config.seed, version, 0x9e0),
    serverStateTag: serverStateTag(next.kind, optimizer.config.kind),
    privacyRecord: privacy?.currentRecord(version, latest.round),
  });
  log.info({ model: next.kind, from: latest.version, version, numItems: next.numItems }, 'the catalog grew while the coordinator was down: grown version written');
  return { version, round: latest.round, modelKind: next.kind, tensors: toWireTensors(grown.spec, grown.globals) };
}

/**
 * The server optimizer's state saved with the resumed version, so momentum / adam
 * carry on across restarts. Plain FedAvg has none. A missing or foreign state (the
 * optimizer was changed between runs) restarts the moments from zero, with a warning.
 */
async function resumeServerState(store: CheckpointStore, kind: ModelKind, version: number, config: ServeConfig, log: Logger): Promise<NamedTensors | undefined> {
  const optimizer = config.serverOptimizer.kind;
  // Initial weights (round 0) were not produced by a server step: no state to resume.
  if (optimizer === 'sgd' || store.entries().find((e) => e.version === version)?.round === 0) return undefined;
  const file = await store.readServerState(version);
  if (file?.modelKind === serverStateTag(kind, optimizer)) return fromWireTensors(file.tensors);
  log.warn({ model: kind, version, optimizer, found: file?.modelKind ?? null }, 'no server optimizer state of this kind saved with the resumed version; its moments start from zero');
  return undefined;
}
