import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../backend/select-backend.ts';
import { createModel, type ModelDescriptor } from '../../shared/model/model-registry.ts';
import type { RecommenderModel, TrainConfig } from '../../shared/model/recommender-model.ts';
import { BackendNameSchema } from '../../shared/protocol/messages.ts';
import { SeededRandom } from '../../shared/random/seeded-random.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { trainOnBatches } from '../../shared/train/local-training.ts';
import { benchmarkTraining, type BenchmarkInput, type BenchmarkResult } from '../../shared/train/training-benchmark.ts';
import { measureTopKLatency, type TopKLatencyInput, type TopKLatencyResult } from './top-k-latency.ts';
import { benchmarkMfRound, type MfRoundBenchmarkInput, type MfRoundBenchmarkResult } from './mf-round-benchmark.ts';

/**
 * A batch as JSON: every typed-array field of the model's batch (PairBatch for 'mf',
 * SequenceBatch for 'sasrec') as a plain number array, scalar fields as numbers.
 * MF: { positives, negatives } (negatives are positives.length × cfg.negatives, row-major).
 * SASRec: { rows, inputs, mask, positives, negatives, negativesPerPosition, numTargets, dropoutSeed }.
 */
export type LabBatch = Record<string, number[] | number>;

/** JSON-serialisable input of one training call, so Playwright can pass it to page.evaluate. */
export interface LabTrainInput {
  readonly model: ModelDescriptor;
  readonly globals: Record<string, number[]>;
  readonly locals: Record<string, number[]>;
  /** epochs[e][b] is one batch. */
  readonly epochs: LabBatch[][];
  readonly config: TrainConfig;
}

export interface LabTrainOutput {
  readonly globals: Record<string, number[]>;
  readonly locals: Record<string, number[]>;
  readonly loss: number;
  readonly backend: string;
  readonly numTensorsAfter: number;
}

export interface FlockLab {
  readonly backend: BackendChoice;
  trainOnBatches(input: LabTrainInput): Promise<LabTrainOutput>;
  /** Times local training steps of either model on this page's backend (e2e/bench/training-benchmark.ts). */
  benchmark(input: BenchmarkInput): Promise<BenchmarkResult>;
  /** Times one person's top-K over a whole catalog, query by query (client/lab/top-k-latency.ts). */
  topKLatency(input: TopKLatencyInput): Promise<TopKLatencyResult>;
  /** Times one MF client's local training per round, tfjs or the typed-array kernels (client/lab/mf-round-benchmark.ts). */
  mfRound(input: MfRoundBenchmarkInput): Promise<MfRoundBenchmarkResult>;
}

declare global {
  interface Window {
    flockLab?: FlockLab;
  }
}

const toFloat = (r: Record<string, number[]>): NamedTensors =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float32Array.from(v)]));
const toPlain = (t: NamedTensors): Record<string, number[]> =>
  Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Array.from(v)]));

type FieldKind = 'int32' | 'float32' | 'number';

/**
 * The type of each field of the model's batches, read off a batch the model itself makes
 * (a two-item history), so the JSON conversion is written once for every model: index
 * fields are Int32Array, float fields (SASRec's mask) Float32Array, the rest numbers.
 */
function batchFieldKinds(model: RecommenderModel, config: TrainConfig): Map<string, FieldKind> {
  const probe = model.makeBatches(Int32Array.from([0, Math.min(1, model.numItems - 1)]), config, model.numItems, new SeededRandom(0))[0];
  if (!probe || typeof probe !== 'object') throw new Error('cannot infer the batch layout: makeBatches returned no batch');
  const kinds = new Map<string, FieldKind>();
  for (const [k, v] of Object.entries(probe as Record<string, unknown>)) {
    kinds.set(k, v instanceof Int32Array ? 'int32' : v instanceof Float32Array ? 'float32' : 'number');
  }
  return kinds;
}

function batchFromJson(json: LabBatch, kinds: Map<string, FieldKind>, modelKind: string): unknown {
  const out: Record<string, Int32Array | Float32Array | number> = {};
  for (const [k, kind] of kinds) {
    const v = json[k];
    if (v === undefined) throw new Error(`batch field '${k}' is missing`);
    if (kind === 'number') {
      if (typeof v !== 'number') throw new Error(`batch field '${k}' must be a number`);
      out[k] = v;
    } else {
      if (!Array.isArray(v)) throw new Error(`batch field '${k}' must be an array of numbers`);
      out[k] = kind === 'int32' ? Int32Array.from(v) : Float32Array.from(v);
    }
  }
  for (const k of Object.keys(json)) if (!kinds.has(k)) throw new Error(`unknown batch field '${k}' for model kind '${modelKind}'`);
  return out;
}

async function labTrain(input: LabTrainInput): Promise<LabTrainOutput> {
  const model = createModel(input.model);
  const kinds = batchFieldKinds(model, input.config);
  const epochs = input.epochs.map((batches) => batches.map((b) => batchFromJson(b, kinds, input.model.kind)));
  const result = await trainOnBatches(model, toFloat(input.globals), toFloat(input.locals), epochs, input.config);
  return {
    globals: toPlain(result.globals),
    locals: toPlain(result.locals),
    loss: result.loss,
    backend: tf.getBackend(),
    numTensorsAfter: tf.memory().numTensors,
  };
}

async function main(): Promise<void> {
  const forced = BackendNameSchema.safeParse(new URLSearchParams(location.search).get('backend'));
  const backend = await selectBackend(forced.success ? forced.data : null);
  window.flockLab = { backend, trainOnBatches: labTrain, benchmark: benchmarkTraining, topKLatency: measureTopKLatency, mfRound: benchmarkMfRound };
  document.querySelector('[data-testid=lab-status]')!.textContent = JSON.stringify(backend, null, 2);
  document.body.dataset.backend = backend.name;
  document.body.dataset.ready = 'true';
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  document.querySelector('[data-testid=lab-status]')!.textContent = `Error: ${message}`;
  document.body.dataset.error = message;
});
