/**
 * Top-K scoring off the main thread: holds each model's latest item table (transferred
 * once per version) and answers queries (a user vector) with the top-K items, excluding
 * the person's history and retired items, with the shared top-K (shared/eval/top-k.ts).
 */
import { exclusionMask, topKByDot, type ItemTable } from '../../shared/eval/top-k.ts';
import type { ScoringReply, ScoringRequest } from './scoring-protocol.ts';

const tables = new Map<string, ItemTable>();
// The worker global, typed by what this file uses (the DOM lib has no worker scope type).
const scope = self as unknown as { onmessage: ((e: MessageEvent<ScoringRequest>) => void) | null; postMessage(m: ScoringReply): void };

scope.onmessage = (e: MessageEvent<ScoringRequest>) => {
  const msg = e.data;
  if (msg.type === 'table') {
    tables.set(msg.key, { vectors: msg.vectors, dim: msg.dim, bias: msg.bias });
    return;
  }
  let reply: ScoringReply;
  try {
    const table = tables.get(msg.key);
    if (!table) throw new Error(`no item table '${msg.key}' in the scoring worker`);
    const start = performance.now();
    const items = topKByDot(table, msg.query, msg.k, exclusionMask(table.vectors.length / table.dim, msg.excluded));
    reply = { type: 'result', id: msg.id, items, ms: performance.now() - start };
  } catch (err) {
    reply = { type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) };
  }
  scope.postMessage(reply);
};
