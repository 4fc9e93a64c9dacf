/**
 * `npm run bench:secagg`: what secure aggregation (shared/secagg/, Bonawitz et al. 2017
 * with the SecAgg+ graph of Bell et al. 2020) costs a client and the coordinator per
 * round, against plain (unmasked) updates, for 10, 100 and 1,000 participants per round,
 * in-process (runSecAggRound: every message built, parsed and counted as the wire
 * carries it, no sockets).
 *
 * The update is ML-100K's MF update: itemEmbedding 1682 × 32 + itemBias 1682 = 55,506
 * values, dense (secure aggregation needs dense vectors), clip bound 1.
 * - secure: per client, CPU ms of all four steps (key generation, 2k X25519 agreements,
 *   Shamir sharing and share encryption, fixed-point encoding and k + 1 ChaCha20 mask
 *   streams, unmasking), bytes sent and received (binary fields raw, the rest as JSON;
 *   messageBytes). Server: CPU ms of routing, summing and unmasking, including the
 *   recovery of the `--dropped` fraction that vanish after sending their shares.
 * - plain: per client, CPU ms of encodeUpdate (f32 dense) and its bytes; server: CPU ms of
 *   decodeUpdate → RoundAggregation.add ('mean', uniform) for every update.
 * The model download is the same in both and left out. CPU time is process.cpuUsage()
 * (user + system) around each step, so other processes on a busy machine do not inflate
 * it; the per-client figure is the median over the round's clients.
 *
 * Options: --participants 10,100,1000  --dropped 0.05  --dropout 0.1 (the expected dropout
 * fraction that picks k)  --json <file>.
 */
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { RoundAggregation } from '../../shared/aggregate/round-aggregation.ts';
import { embeddingModelSpec } from '../../shared/model/embedding-model.ts';
import { runSecAggRound } from '../../shared/secagg/run-secagg-round.ts';
import { buildSecAggParams } from '../../shared/secagg/secagg-params.ts';
import { decodeUpdate, encodeUpdate } from '../../shared/update/tensor-codec.ts';
import { benchmarkUpdate, MF_DIM, ML100K_ITEMS } from './aggregation-throughput.ts';
import { writeFileSync } from 'node:fs';

export interface SecAggCostRow {
  readonly participants: number;
  readonly neighbours: number;
  readonly threshold: number;
  readonly dropped: number;
  readonly secureClientCpuMs: number;
  readonly secureClientBytesSent: number;
  readonly secureClientBytesReceived: number;
  readonly secureServerCpuMs: number;
  readonly plainClientCpuMs: number;
  readonly plainClientBytesSent: number;
  readonly plainServerCpuMs: number;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function median(a: number[]): number {
  const s = [...a].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The benchmark's dense update as one flat vector (embedding rows then biases), every coordinate within the clip bound 1. */
function flatUpdate(): Float32Array {
  const u = decodeUpdate(benchmarkUpdate('dense'));
  const emb = u.tensors.find((t) => t.name === 'itemEmbedding')!.data;
  const bias = u.tensors.find((t) => t.name === 'itemBias')!.data;
  const out = new Float32Array(emb.length + bias.length);
  out.set(emb, 0);
  out.set(bias, emb.length);
  return out;
}

function plainCost(n: number): { clientCpuMs: number; bytes: number; serverCpuMs: number } {
  const bytes = benchmarkUpdate('dense');
  const update = decodeUpdate(bytes);
  const spec = embeddingModelSpec({ numItems: ML100K_ITEMS, dim: MF_DIM });
  const clientTimes: number[] = [];
  const wires: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = cpuMs();
    wires.push(encodeUpdate(update));
    clientTimes.push(cpuMs() - t0);
  }
  const agg = new RoundAggregation(spec, { weighting: { kind: 'uniform' }, combine: { kind: 'mean' }, clipNorm: 1, rowNormalize: false }, { maxUpdates: n });
  const t0 = cpuMs();
  for (const w of wires) agg.add(decodeUpdate(w, { views: true }));
  const serverCpuMs = cpuMs() - t0;
  return { clientCpuMs: median(clientTimes), bytes: wires[0].length, serverCpuMs };
}

export function measureSecAggCost(participants: number, droppedFraction: number, dropoutFraction: number): SecAggCostRow {
  const update = flatUpdate();
  const ids = Array.from({ length: participants }, (_, i) => `participant-${String(i).padStart(8, '0')}`);
  const params = buildSecAggParams({ context: `bench/secagg/${participants}`, participants: ids, vectorLength: update.length, clipBound: 1, dropoutFraction });
  const updates = new Map(ids.map((id) => [id, update]));
  const dropped = ids.filter((_, i) => i % Math.round(1 / droppedFraction) === 1).slice(0, Math.floor(participants * droppedFraction));
  const r = runSecAggRound(params, updates, { measure: true, clock: cpuMs, drop: { afterShares: dropped } });
  const costs = [...r.clientCost!.entries()].filter(([id]) => !dropped.includes(id)).map(([, c]) => c);
  const plain = plainCost(participants);
  return {
    participants,
    neighbours: params.neighbours,
    threshold: params.threshold,
    dropped: dropped.length,
    secureClientCpuMs: median(costs.map((c) => c.cpuMs)),
    secureClientBytesSent: median(costs.map((c) => c.bytesSent)),
    secureClientBytesReceived: median(costs.map((c) => c.bytesReceived)),
    secureServerCpuMs: r.serverCpuMs!,
    plainClientCpuMs: plain.clientCpuMs,
    plainClientBytesSent: plain.bytes,
    plainServerCpuMs: plain.serverCpuMs,
  };
}

const kb = (b: number) => `${(b / 1000).toFixed(1)} kB`;

export function formatSecAggCost(rows: readonly SecAggCostRow[]): string[] {
  const lines = [
    '| participants | k | t | dropped after shares | client CPU secure / plain (ms) | client sent secure / plain | client received secure / plain | server CPU secure / plain (ms) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.participants} | ${r.neighbours} | ${r.threshold} | ${r.dropped} | ${r.secureClientCpuMs.toFixed(0)} / ${r.plainClientCpuMs.toFixed(2)} | ${kb(r.secureClientBytesSent)} / ${kb(r.plainClientBytesSent)} | ${kb(r.secureClientBytesReceived)} / 0 | ${r.secureServerCpuMs.toFixed(0)} / ${r.plainServerCpuMs.toFixed(0)} |`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--participants <list>', 'participants per round, comma-separated', '10,100,1000')
    .option('--dropped <f>', 'fraction of participants that vanish after sending their shares (the server recovers their masks)', '0.05')
    .option('--dropout <f>', 'expected dropout fraction that picks the neighbourhood size k', '0.1')
    .option('--json <file>', 'also write the rows as JSON')
    .parse()
    .opts<{ participants: string; dropped: string; dropout: string; json?: string }>();
  const sizes = opts.participants.split(',').map(Number);
  console.log(`secure aggregation cost per round, ML-100K MF update (${ML100K_ITEMS} × ${MF_DIM} + ${ML100K_ITEMS} = ${ML100K_ITEMS * (MF_DIM + 1)} values), in-process, CPU time (process.cpuUsage)`);
  measureSecAggCost(10, 0.1, Number(opts.dropout)); // warm-up (JIT)
  const rows: SecAggCostRow[] = [];
  for (const n of sizes) {
    rows.push(measureSecAggCost(n, Number(opts.dropped), Number(opts.dropout)));
    console.error(`  ${n} participants done`);
  }
  for (const l of formatSecAggCost(rows)) console.log(l);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(rows, null, 2));
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
