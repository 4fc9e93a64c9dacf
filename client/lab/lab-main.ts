import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../backend/select-backend.ts';
import { createModel, type ModelDescriptor } from '../../shared/model/model-registry.ts';
import type { TrainConfig } from '../../shared/model/recommender-model.ts';
import { BackendNameSchema } from '../../shared/protocol/messages.ts';
import type { NamedTensors } from '../../shared/tensor/named-tensors.ts';
import { trainOnBatches } from '../../shared/train/local-training.ts';

/** JSON-serialisable input of one training call, so Playwright can pass it to page.evaluate. */
export interface LabTrainInput {
  readonly model: ModelDescriptor;
  readonly globals: Record<string, number[]>;
  readonly locals: Record<string, number[]>;
  /** epochs[e][b] is one batch; negatives are positives.length × cfg.negatives, row-major. */
  readonly epochs: { positives: number[]; negatives: number[] }[][];
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

async function labTrain(input: LabTrainInput): Promise<LabTrainOutput> {
  const model = createModel(input.model);
  const epochs = input.epochs.map((batches) =>
    batches.map((b) => ({ positives: Int32Array.from(b.positives), negatives: Int32Array.from(b.negatives) })),
  );
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
  window.flockLab = { backend, trainOnBatches: labTrain };
  document.querySelector('[data-testid=lab-status]')!.textContent = JSON.stringify(backend, null, 2);
  document.body.dataset.backend = backend.name;
  document.body.dataset.ready = 'true';
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  document.querySelector('[data-testid=lab-status]')!.textContent = `Error: ${message}`;
  document.body.dataset.error = message;
});
