/**
 * Parity: one deterministic step of local training gives the same parameters on the
 * browser's WebGPU backend (lab page, SwiftShader here) and on Node's wasm backend.
 * Both sides run the very same shared/train code; this catches backend-specific
 * kernels (gather gradient, softplus, matMul) that drift.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { collectConsole, launchChromium } from './harness/chromium.ts';
import { ensureBuilt } from './harness/build.ts';
import { serveStatic, type StaticServer } from './harness/static-server.ts';
import { useNodeBackend } from '../coordinator/runtime/node-tf-backend.ts';
import { createModel, type ModelDescriptor } from '../shared/model/model-registry.ts';
import { initParams } from '../shared/model/init-params.ts';
import { trainOnBatches } from '../shared/train/local-training.ts';
import { SeededRandom } from '../shared/random/seeded-random.ts';
import type { TrainConfig } from '../shared/model/recommender-model.ts';

const TOLERANCE = 1e-4;

interface LabInput {
  model: ModelDescriptor;
  globals: Record<string, number[]>;
  locals: Record<string, number[]>;
  epochs: { positives: number[]; negatives: number[] }[][];
  config: TrainConfig;
}
interface LabOutput {
  globals: Record<string, number[]>;
  locals: Record<string, number[]>;
  loss: number;
  backend: string;
  numTensorsAfter: number;
}
interface LabInfo {
  name: string;
  reason: string;
  adapter: unknown;
}

function buildCase(): LabInput {
  const model: ModelDescriptor = { kind: 'mf', numItems: 50, dim: 8 };
  const spec = createModel(model).spec;
  const toArrays = (t: Record<string, Float32Array>) =>
    Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Array.from(v)]));
  const rng = new SeededRandom(2024);
  // 8 distinct positives, 4 negatives each (not among the positives).
  const items = rng.shuffle(Array.from({ length: model.numItems }, (_, i) => i));
  const positives = items.slice(0, 8);
  const pool = items.slice(8);
  const negatives = Array.from({ length: positives.length * 4 }, () => pool[rng.int(pool.length)]);
  return {
    model,
    globals: toArrays(initParams(spec, 'global', 11)),
    locals: toArrays(initParams(spec, 'local', 12)),
    epochs: [[{ positives, negatives }]],
    config: { localEpochs: 1, batchSize: 8, learningRate: 0.05, negatives: 4, l2: 1e-4 },
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, name: string): number {
  assert.equal(a.length, b.length, `${name}: length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}

let browser: Browser | undefined;
let server: StaticServer | undefined;

before(async () => {
  const dist = await ensureBuilt();
  server = await serveStatic(dist);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.close().catch(() => {});
});

test('one training step on WebGPU (browser) matches wasm (Node) within 1e-4', { timeout: 240_000 }, async () => {
  const input = buildCase();

  // Node, wasm backend.
  await useNodeBackend('wasm');
  const model = createModel(input.model);
  const nodeResult = await trainOnBatches(
    model,
    Object.fromEntries(Object.entries(input.globals).map(([k, v]) => [k, Float32Array.from(v)])),
    Object.fromEntries(Object.entries(input.locals).map(([k, v]) => [k, Float32Array.from(v)])),
    input.epochs.map((e) => e.map((b) => ({ positives: Int32Array.from(b.positives), negatives: Int32Array.from(b.negatives) }))),
    input.config,
  );

  // Browser, lab page forced to WebGPU.
  const page: Page = await browser!.newPage();
  const consoleLines = collectConsole(page, 'lab ');
  const diag = () => `\nbrowser console:\n${consoleLines.slice(-40).join('\n')}`;
  await page.goto(`${server!.url}/lab.html?backend=webgpu`);
  await page
    .waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 })
    .catch((e: Error) => assert.fail(`lab page never set data-ready: ${e.message}${diag()}`));
  const info = await page.evaluate(
    () => (window as unknown as { flockLab: { backend: LabInfo } }).flockLab.backend,
  );
  console.log(`lab backend: ${JSON.stringify(info)}`);
  assert.equal(info.name, 'webgpu', `lab did not run on WebGPU (reason: ${info.reason})${diag()}`);
  assert.ok(info.adapter, `lab reports no WebGPU adapter${diag()}`);

  const t0 = Date.now();
  const web = await page
    .evaluate(
      (inp) => (window as unknown as { flockLab: { trainOnBatches(i: unknown): Promise<LabOutput> } }).flockLab.trainOnBatches(inp),
      input,
    )
    .catch((e: Error) => assert.fail(`flockLab.trainOnBatches threw: ${e.message}${diag()}`));
  console.log(`webgpu step took ${Date.now() - t0} ms; loss web=${web.loss} node=${nodeResult.loss}; tensors after=${web.numTensorsAfter}`);
  assert.equal(web.backend, 'webgpu');
  await page.close();

  let maxDiff = 0;
  let maxChange = 0;
  const report: string[] = [];
  for (const scope of ['globals', 'locals'] as const) {
    const nodeSide = nodeResult[scope];
    assert.deepEqual(Object.keys(web[scope]).sort(), Object.keys(nodeSide).sort(), `${scope}: parameter names differ`);
    for (const name of Object.keys(nodeSide)) {
      const d = maxAbsDiff(web[scope][name], nodeSide[name], name);
      const changedWeb = maxAbsDiff(web[scope][name], input[scope][name], name);
      const changedNode = maxAbsDiff(nodeSide[name], input[scope][name], name);
      report.push(`${scope}.${name}: max|webgpu−wasm|=${d.toExponential(3)} change webgpu=${changedWeb.toExponential(3)} wasm=${changedNode.toExponential(3)}`);
      maxDiff = Math.max(maxDiff, d);
      maxChange = Math.max(maxChange, changedWeb, changedNode);
      // Every parameter this model has is touched by the batch: it must have moved on both sides.
      assert.ok(changedWeb > 0 && changedNode > 0, `${scope}.${name} did not change (webgpu ${changedWeb}, wasm ${changedNode})`);
    }
  }
  for (const line of report) console.log(`${line}`);
  console.log(`max abs difference webgpu vs wasm: ${maxDiff.toExponential(3)} (tolerance ${TOLERANCE})`);
  console.log(`largest parameter change from init: ${maxChange.toExponential(3)}`);
  assert.ok(Math.abs(web.loss - nodeResult.loss) < 1e-4, `loss differs: webgpu ${web.loss} vs wasm ${nodeResult.loss}`);
  // The step must move parameters by much more than the tolerance, or the comparison proves nothing.
  assert.ok(maxChange > 10 * TOLERANCE, `training barely changed the parameters (max change ${maxChange}); the parity check would be vacuous`);
  assert.ok(maxDiff < TOLERANCE, `max |Δ| between webgpu and wasm is ${maxDiff} ≥ ${TOLERANCE}\n${report.join('\n')}`);
});
