/**
 * The communication graph of SecAgg+ (Bell et al. 2020, "Secure Single-Server Aggregation
 * with (Poly)Logarithmic Overhead", §3): a Harary graph H(k, n) — participants on a ring,
 * each joined to the k/2 nearest on either side — over a random permutation of the
 * round's participants. Every node has degree exactly k and the graph is k-connected.
 * k = n − 1 is the complete graph of Bonawitz et al. 2017.
 *
 * The permutation is a Fisher–Yates shuffle driven by a ChaCha20 keystream keyed with
 * SHA-256 of the round's context, so the coordinator and every client derive the same
 * graph from the announced params alone; it is public, not secret.
 */
import { chacha20 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { swap32IfBE, utf8ToBytes } from '@noble/hashes/utils.js';
import { SECAGG_PROTOCOL, type SecAggParams } from './secagg-params.ts';

export type NeighbourGraph = ReadonlyMap<string, readonly string[]>;

const cache = new WeakMap<SecAggParams, NeighbourGraph>();

/** Every participant's neighbours (sorted), for these params. */
export function neighbourGraph(params: SecAggParams): NeighbourGraph {
  const hit = cache.get(params);
  if (hit) return hit;
  const ids = params.participants;
  const n = ids.length;
  const k = params.neighbours;
  const graph = new Map<string, string[]>();
  if (k >= n - 1) {
    for (const id of ids) graph.set(id, ids.filter((o) => o !== id));
  } else {
    const order = shuffledIndices(n, params.context);
    const half = k / 2;
    for (let p = 0; p < n; p++) {
      const nb: string[] = [];
      for (let d = 1; d <= half; d++) nb.push(ids[order[(p + d) % n]], ids[order[(p - d + n) % n]]);
      graph.set(ids[order[p]], nb.sort());
    }
  }
  cache.set(params, graph);
  return graph;
}

/** One participant's neighbours (sorted); empty for an id that is not in the round. */
export function neighboursOf(params: SecAggParams, id: string): readonly string[] {
  return neighbourGraph(params).get(id) ?? [];
}

function shuffledIndices(n: number, context: string): Uint32Array {
  const key = sha256(utf8ToBytes(`${SECAGG_PROTOCOL}|graph|${context}`));
  const words = swap32IfBE(new Uint32Array(chacha20(key, new Uint8Array(12), new Uint8Array(4 * n)).buffer));
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((words[i] / 4294967296) * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
