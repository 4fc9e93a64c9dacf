import { leaveOneOutSplit } from '../../shared/data/leave-one-out.ts';
import { evaluateRanking, type RankingReport } from '../../shared/eval/evaluate-ranking.ts';
import { initParams } from '../../shared/model/init-params.ts';
import { createModel, type ModelKind } from '../../shared/model/model-registry.ts';
import { MemoryParticipantStore } from '../../shared/participant/memory-participant-store.ts';
import { MAX_UPLOAD_BUDGET_BYTES_PER_HOUR } from '../../shared/participant/upload-budget.ts';
import { coordinatorCredentials } from '../../shared/participant/credential-source.ts';
import { Participant, type UpdateMod } from '../../shared/participant/participant.ts';
import { ATTACKER_CLAIMED_EXAMPLES, pickAttackers, poisonUpdate, type AttackKind } from '../../shared/attack/poison-update.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import { HealthResponseSchema, ModelInfoResponseSchema } from '../../shared/protocol/messages.ts';
import { modelApiPath, weightsApiPath } from '../../shared/protocol/model-routes.ts';
import { hashString } from '../../shared/random/seeded-random.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { decodeWeights, fromWireTensors } from '../../shared/update/tensor-codec.ts';
import { FlockError } from '../../shared/errors.ts';
import { loadDataset } from '../data/load-dataset.ts';
import { useNodeBackend, type NodeBackend } from '../runtime/node-tf-backend.ts';

export interface SocketFleetOptions {
  readonly url: string;
  /** Which of the coordinator's models the fleet trains (it joins that model's rounds). */
  readonly model: ModelKind;
  readonly clients: number;
  /** Stop after the global version has advanced this many times. */
  readonly rounds: number;
  readonly dataPath?: string;
  readonly seed: number;
  /** The coordinator's invite secret, when it requires one. */
  readonly invite?: string;
  /** Poisoning experiment: a fixed seeded fraction of the participants send `kind` instead of their honest update. */
  readonly attack?: { readonly kind: AttackKind; readonly fraction: number };
  readonly backend?: NodeBackend;
  /** Give up when no new version appears for this long. */
  readonly stallTimeoutMs?: number;
  readonly log: (line: string) => void;
}

export interface FleetRoundReport {
  readonly version: number;
  readonly hr10: number;
  readonly ndcg10: number;
}

export interface SocketFleetReport {
  readonly clients: number;
  readonly startVersion: number;
  readonly endVersion: number;
  readonly history: FleetRoundReport[];
  readonly bytesSent: number;
  readonly rejections: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fetchJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  if (!res.ok) {
    const detail = await res.json().then((b: { error?: { message?: string } }) => b.error?.message, () => undefined);
    throw new FlockError(res.status === 404 ? 'not-found' : 'malformed', `GET ${url}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`);
  }
  return res.json();
}

/**
 * N participants over real socket.io against a running coordinator: the same
 * Participant class the browser runs, each with its own slice of the data (one user's
 * training interactions) in an in-memory store. Evaluates HR@10 / NDCG@10 (100 sampled
 * negatives, the users' held-out last items) on every new global version.
 */
export async function runSocketFleet(o: SocketFleetOptions): Promise<SocketFleetReport> {
  await useNodeBackend(o.backend ?? 'wasm');
  const info = ModelInfoResponseSchema.parse(await fetchJson(`${o.url}${modelApiPath(o.model)}`));
  const dataset = await loadDataset(o.dataPath);
  if (dataset.numItems !== info.model.numItems) {
    throw new FlockError('bad-config', `the coordinator serves ${info.model.numItems} items but the fleet's data set (${dataset.name}) has ${dataset.numItems}: start both with the same --data`);
  }
  const model = createModel(info.model);
  const split = leaveOneOutSplit(dataset, { validation: false });
  const users = [...Array(dataset.numUsers).keys()].filter((u) => split.test[u] >= 0).slice(0, o.clients);
  if (users.length < o.clients) o.log(`only ${users.length} users have held-out items; running ${users.length} clients`);

  let rejections = 0;
  const attackers = o.attack ? pickAttackers(users, o.attack.fraction, o.seed) : new Set<number>();
  if (o.attack) o.log(`${attackers.size} of ${users.length} participants attack (${o.attack.kind}, claiming ${ATTACKER_CLAIMED_EXAMPLES} examples)`);
  const attackMod = (u: number): UpdateMod | undefined => {
    if (!o.attack || !attackers.has(u)) return undefined;
    const { kind } = o.attack;
    const rng = new SeededRandom(o.seed * 7919 + u);
    return (honest, clipNorm) => ({ delta: poisonUpdate(kind, honest, clipNorm, rng) as Record<string, Float32Array>, numExamples: ATTACKER_CLAIMED_EXAMPLES });
  };
  const fleet = users.map((u) => {
    // Seeds local randomness only (the same key as the in-process simulation); the identity comes from the credential.
    const clientId = `fleet-${o.seed}-${u}`;
    const store = new MemoryParticipantStore(
      Array.from(split.train[u], (item, t) => ({ item, rating: 1, kind: 'click' as const, timestamp: t })),
    );
    const participant = new Participant({
      serverUrl: o.url,
      model: o.model,
      seedKey: clientId,
      // Each simulated participant asks for its own credential and keeps it in memory.
      credentials: coordinatorCredentials(o.url, store, { invite: o.invite }),
      store,
      backend: { name: o.backend ?? 'wasm', reason: 'Node fleet participant' },
      foldInEpochs: 0,
      // Simulated participants are nobody's metered connection: no upload budget binds them.
      defaultUploadBudget: MAX_UPLOAD_BUDGET_BYTES_PER_HOUR,
      updateMod: attackMod(u),
      onEvent: (e) => {
        if (e.type === 'rejected') {
          rejections++;
          // 'late' is the expected fate of over-selected participants once a round has its target.
          if (e.code !== 'late') o.log(`client ${u}: update rejected (${e.code}): ${e.message}`);
        }
      },
    });
    return { user: u, clientId, store, participant };
  });

  const evaluate = async (version: number): Promise<RankingReport> => {
    const res = await fetch(`${o.url}${weightsApiPath(o.model, version)}`);
    if (!res.ok) throw new Error(`weights v${version}: HTTP ${res.status}`);
    const globals = fromWireTensors(decodeWeights(new Uint8Array(await res.arrayBuffer())).tensors);
    const locals = new Map<number, NamedTensors>();
    for (const c of fleet) locals.set(c.user, (await c.store.getLocal(model.spec.kind)) ?? initParams(model.spec, 'local', hashString(c.clientId)));
    return evaluateRanking({
      numItems: dataset.numItems,
      users,
      heldOut: split.test,
      train: split.train,
      scoreAll: (u) => model.scoreAll(globals, locals.get(u)!, split.train[u]),
      seed: o.seed,
    });
  };

  const startVersion = info.version;
  const first = await evaluate(startVersion);
  const history: FleetRoundReport[] = [{ version: startVersion, hr10: first.sampled.hr, ndcg10: first.sampled.ndcg }];
  o.log(`version ${startVersion} (start): HR@10 ${first.sampled.hr.toFixed(4)}  NDCG@10 ${first.sampled.ndcg.toFixed(4)}  (${first.users} users, 100 sampled negatives)`);

  for (const c of fleet) c.participant.start();
  const target = startVersion + o.rounds;
  let seen = startVersion;
  let lastProgress = Date.now();
  try {
    while (seen < target) {
      await sleep(250);
      let version: number;
      try {
        version = HealthResponseSchema.parse(await fetchJson(`${o.url}/api/health`)).models[o.model]?.version ?? seen;
      } catch {
        if (Date.now() - lastProgress > (o.stallTimeoutMs ?? 120_000)) throw new Error(`coordinator unreachable for ${(o.stallTimeoutMs ?? 120_000) / 1000} s`);
        continue; // coordinator restarting: the participants reconnect on their own
      }
      if (version > seen) {
        let r: RankingReport;
        try {
          r = await evaluate(version);
        } catch {
          continue; // the coordinator went away between the two requests; try again
        }
        seen = version;
        lastProgress = Date.now();
        history.push({ version, hr10: r.sampled.hr, ndcg10: r.sampled.ndcg });
        o.log(`version ${version} (${version - startVersion}/${o.rounds}): HR@10 ${r.sampled.hr.toFixed(4)}  NDCG@10 ${r.sampled.ndcg.toFixed(4)}`);
      } else if (Date.now() - lastProgress > (o.stallTimeoutMs ?? 120_000)) {
        throw new Error(`no new global version for ${(o.stallTimeoutMs ?? 120_000) / 1000} s (at version ${seen})`);
      }
    }
  } finally {
    for (const c of fleet) c.participant.stop();
  }
  return {
    clients: fleet.length,
    startVersion,
    endVersion: seen,
    history,
    bytesSent: fleet.reduce((n, c) => n + c.participant.state.bytesSent, 0),
    rejections,
  };
}
