/**
 * Top-K scoring off the main thread. It holds, per model, the latest version's item
 * table (the embedding model: a user vector is scored against it) or GLOBAL weights
 * (the sequence model: the model's own scoreAll runs its encoder over the person's
 * history), each transferred once per version, and answers with the top-K items,
 * excluding the person's history and retired items, through the shared top-K
 * (shared/eval/top-k.ts).
 */
import { exclusionMask, topKByDot, topKOfScores, type ItemTable } from '../../shared/eval/top-k.ts';
import { createModel } from '../../shared/model/model-registry.ts';
import type { RecommenderModel } from '../../shared/model/recommender-model.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import type { ScoringReply, ScoringRequest } from './scoring-protocol.ts';

const tables = new Map<string, ItemTable>();
const models = new Map<string, { model: RecommenderModel; globals: NamedTensors }>();
// The worker global, typed by what this file uses (the DOM lib has no worker scope type).
const scope = self as unknown as { onmessage: ((e: MessageEvent<ScoringRequest>) => void) | null; postMessage(m: ScoringReply): void };

function answer(msg: Extract<ScoringRequest, { id: number }>): number[] {
  if (msg.type === 'top-k') {
    const table = tables.get(msg.key);
    if (!table) throw new Error(`no item table '${msg.key}' in the scoring worker`);
    return topKByDot(table, msg.query, msg.k, exclusionMask(table.vectors.length / table.dim, msg.excluded));
  }
  const held = models.get(msg.key);
  if (!held) throw new Error(`no model '${msg.key}' in the scoring worker`);
  const scores = held.model.scoreAll(held.globals, {}, msg.history);
  return topKOfScores(scores, msg.k, exclusionMask(scores.length, msg.history, msg.excluded));
}

scope.onmessage = (e: MessageEvent<ScoringRequest>) => {
  const msg = e.data;
  if (msg.type === 'table') {
    tables.set(msg.key, { vectors: msg.vectors, dim: msg.dim, bias: msg.bias });
    return;
  }
  if (msg.type === 'model') {
    models.set(msg.key, { model: createModel(msg.descriptor), globals: msg.globals });
    return;
  }
  let reply: ScoringReply;
  try {
    const start = performance.now();
    const items = answer(msg);
    reply = { type: 'result', id: msg.id, items, ms: performance.now() - start };
  } catch (err) {
    reply = { type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) };
  }
  scope.postMessage(reply);
};
