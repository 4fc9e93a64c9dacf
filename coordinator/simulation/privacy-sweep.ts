/**
 * `npm run bench:privacy`: the privacy–utility sweep of user-level DP-FedAvg on ML-100K
 * (in-process simulation, dp-simulation.ts), for MF and SASRec.
 *
 * For each model and sampling rate q: no DP, then ε ∈ --epsilons at δ = --delta (z from
 * the RDP accountant for q and the run's rounds: planDp), every run with the same
 * pipeline — combine 'mean', 'uniform' weighting, no row normalisation, the fixed
 * denominator q·N under DP (Poisson sampling; the no-DP run samples a fixed-size cohort
 * and divides by it). Each configuration is trained once per server learning rate in
 * the model's list; the one with the best validation NDCG@10 (100 neg.) is reported
 * (tuned on validation only). Every evaluation scores the test item under BOTH
 * protocols (what the model reads before the test item: 'train+validation' and 'train')
 * on the same trained model; the reported point is the round with the best validation
 * NDCG@10. Also:
 * - row normalisation (off under DP by decision): no-DP MF with it on vs off at the
 *   sweep's settings (server lrs --rownorm-server-lrs, default the MF list);
 * - the noise threshold: MF at the first q with given noise multipliers (--mf-noise),
 *   giving σ/C = z/m points besides the ε runs; the largest σ/C within 5 % of no-DP HR@10;
 * - the projection (dp-projection.ts, computed, no training) for a deployment of
 *   --projection-population people.
 *
 * Outputs in --out (default reports/privacy): privacy-sweep.csv (one row per run),
 * results.json, table.md (the tables the README quotes), privacy-utility.svg (HR@10
 * against ε), noise-utility.svg (MF HR@10 against σ/C), candidates.json, runs/<id>.json
 * (one per run; reused on a rerun when config and split match — delete to retrain).
 *
 *   npm run bench:privacy -- [--data PATH] [--models mf,sasrec] [--epsilons 8,4,2,1] [--delta 1e-5]
 *     [--mf-q 1,0.25] [--mf-rounds 60] [--mf-server-optimizer adam] [--mf-server-lrs 0.03,0.1] [--mf-clip 0.3]
 *     [--mf-noise 0.25,0.5,0.75,1,2] [--rownorm-server-lrs LIST] [--no-rownorm]
 *     [--sasrec-q 0.25] [--sasrec-rounds 20] [--sasrec-server-optimizer sgd] [--sasrec-server-lrs 10] [--sasrec-clip 1]
 *     [--projection-population 100000] [--projection-cohorts 100,1000,10000] [--projection-epsilons 1,2,8] [--out DIR]
 *
 * Defaults are the settings the README's table was run with (chosen on validation, see there).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ServerOptimizerKind } from '../../shared/aggregate/server-optimizer.ts';
import { parseServerOptimizerKind } from '../../shared/aggregate/server-optimizer.ts';
import type { Dataset, UserSplit } from '../../shared/data/interactions.ts';
import type { EvaluationCandidates } from '../../shared/eval/candidates.ts';
import { prepareEvaluation, TEST_HISTORIES, type TestHistory } from '../../shared/eval/evaluate-split.ts';
import { defaultMovieLensDir } from '../data/load-movielens.ts';
import { useNodeBackend } from '../runtime/node-tf-backend.ts';
import { evaluatePopularity } from './centralized-training.ts';
import { cohortForNoise, noiseThreshold, projectNoise, type ProjectionRow } from './dp-projection.ts';
import { runInProcessSimulation } from './in-process-simulation.ts';
import type { EvaluationPoint, HeldOutMetrics } from './simulation-result.ts';
import type { SimulationConfig } from './simulation-config.ts';
import { selectByValidation } from './select-by-validation.ts';
import { loadSource, machineInfo, researchSplit, resolveCandidates } from './simulation-data.ts';
import { lineChartSvg, type ChartSeries } from './svg-line-chart.ts';

const { values: a } = parseArgs({
  options: {
    data: { type: 'string' },
    out: { type: 'string', default: 'reports/privacy' },
    models: { type: 'string', default: 'mf,sasrec' },
    epsilons: { type: 'string', default: '8,4,2,1' },
    delta: { type: 'string', default: '1e-5' },
    seed: { type: 'string', default: '1' },
    'mf-q': { type: 'string', default: '1,0.25' },
    'mf-rounds': { type: 'string', default: '60' },
    'mf-server-optimizer': { type: 'string', default: 'adam' },
    'mf-server-lrs': { type: 'string', default: '0.03,0.1' },
    'mf-clip': { type: 'string', default: '0.3' },
    'mf-eval-every': { type: 'string', default: '10' },
    'mf-noise': { type: 'string', default: '0.25,0.5,0.75,1,2' },
    'rownorm-server-lrs': { type: 'string' },
    'no-rownorm': { type: 'boolean', default: false },
    'sasrec-q': { type: 'string', default: '0.25' },
    'sasrec-rounds': { type: 'string', default: '20' },
    'sasrec-server-optimizer': { type: 'string', default: 'sgd' },
    'sasrec-server-lrs': { type: 'string', default: '10' },
    'sasrec-clip': { type: 'string', default: '1' },
    'sasrec-eval-every': { type: 'string', default: '5' },
    'projection-population': { type: 'string', default: '100000' },
    'projection-cohorts': { type: 'string', default: '100,1000,10000' },
    'projection-epsilons': { type: 'string', default: '1,2,8' },
    'projection-delta': { type: 'string' },
    'max-loss': { type: 'string', default: '0.05' },
  },
});

const list = (s: string) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
const nums = (s: string) => list(s).map(Number);
const dataPath = a.data ?? process.env.FLOCK_ML100K ?? defaultMovieLensDir();
if (!dataPath || !existsSync(dataPath)) {
  console.log(`bench:privacy skipped: MovieLens 100K not found (${dataPath ?? '../shared/data/ml-100k'}); pass --data PATH or set FLOCK_ML100K`);
  process.exit(0);
}
const out = path.resolve(a.out!);
const models = list(a.models!) as ('mf' | 'sasrec')[];
const epsilons = nums(a.epsilons!);
const delta = Number(a.delta);
const seed = Number(a.seed);
const maxLoss = Number(a['max-loss']);

type Setting = { readonly kind: 'none' } | { readonly kind: 'epsilon'; readonly epsilon: number } | { readonly kind: 'noise'; readonly z: number };
type Group = 'sweep' | 'rownorm' | 'noise';

interface RunSpec {
  readonly id: string;
  readonly group: Group;
  readonly model: 'mf' | 'sasrec';
  readonly q: number;
  readonly rounds: number;
  readonly setting: Setting;
  readonly serverOptimizer: ServerOptimizerKind;
  readonly serverLr: number;
  readonly rowNormalize: boolean;
  readonly clip: number;
  readonly evalEvery: number;
}

interface RunResult {
  readonly id: string;
  readonly spec: RunSpec;
  readonly splitHash: string;
  readonly config: SimulationConfig;
  readonly selected: { round: number; validation: HeldOutMetrics; test: Record<TestHistory, HeldOutMetrics> };
  readonly final: { round: number; test: Record<TestHistory, HeldOutMetrics> };
  readonly privacy?: { noiseMultiplier: number; delta: number; epsilonSpent: number; epsilonBudget: number; expectedCohort: number; meanCohort: number; noiseStd: number; noiseStdOverClip: number };
  readonly meanCohort: number;
  readonly trainSeconds: number;
  readonly evalSeconds: number;
  readonly evaluations: readonly EvaluationPoint[];
}

const settingLabel = (s: Setting) => (s.kind === 'none' ? 'no DP' : s.kind === 'epsilon' ? `ε=${s.epsilon}` : `z=${s.z}`);
const settingId = (s: Setting) => (s.kind === 'none' ? 'nodp' : s.kind === 'epsilon' ? `eps${s.epsilon}` : `z${s.z}`);

function specsFor(model: 'mf' | 'sasrec'): RunSpec[] {
  const p = model === 'mf' ? 'mf' : 'sasrec';
  const qs = nums(a[`${p}-q`]!);
  const rounds = Number(a[`${p}-rounds`]);
  const serverOptimizer = parseServerOptimizerKind(a[`${p}-server-optimizer`]!);
  const lrs = nums(a[`${p}-server-lrs`]!);
  const clip = Number(a[`${p}-clip`]);
  const evalEvery = Number(a[`${p}-eval-every`]);
  const make = (group: Group, q: number, setting: Setting, serverLr: number, rowNormalize = false): RunSpec => ({
    id: `${model}-q${q}-T${rounds}-${settingId(setting)}-${serverOptimizer}${serverLr}${rowNormalize ? '-rownorm' : ''}-C${clip}-s${seed}`,
    group, model, q, rounds, setting, serverOptimizer, serverLr, rowNormalize, clip, evalEvery,
  });
  const specs: RunSpec[] = [];
  for (const q of qs) {
    for (const setting of [{ kind: 'none' } as Setting, ...epsilons.map((epsilon): Setting => ({ kind: 'epsilon', epsilon }))]) {
      for (const lr of lrs) specs.push(make('sweep', q, setting, lr));
    }
  }
  if (model === 'mf') {
    if (!a['no-rownorm']) for (const lr of a['rownorm-server-lrs'] !== undefined ? nums(a['rownorm-server-lrs']) : lrs) specs.push(make('rownorm', qs[0], { kind: 'none' }, lr, true));
    for (const z of nums(a['mf-noise']!)) for (const lr of lrs) specs.push(make('noise', qs[0], { kind: 'noise', z }, lr));
  }
  return specs;
}

/** The research configurations (README "Federated vs centralized"), with the DP pipeline's aggregation. */
function configFor(s: RunSpec): SimulationConfig {
  const common = {
    seed, rounds: s.rounds, clientsPerRound: s.q, clipNorm: s.clip, serverLearningRate: s.serverLr, rowNormalize: s.rowNormalize,
    combine: { kind: 'mean' } as const, weighting: { kind: 'uniform' } as const, evalEvery: s.evalEvery, bothTestHistories: true,
    ...(s.serverOptimizer === 'sgd' ? {} : { serverOptimizer: s.serverOptimizer, serverMomentum: 0.9, ...(s.serverOptimizer === 'adam' ? { serverBeta2: 0.99, serverEpsilon: 1e-3 } : {}) }),
    ...(s.setting.kind === 'epsilon' ? { dp: { targetEpsilon: s.setting.epsilon, delta } } : s.setting.kind === 'noise' ? { dp: { noiseMultiplier: s.setting.z, delta } } : {}),
  };
  if (s.model === 'mf') {
    return { ...common, dim: 32, localEpochs: 2, batchSize: 32, learningRate: 0.5, negatives: 4, l2: 0.01, trainer: 'typed-array' };
  }
  return {
    ...common, dim: 32, localEpochs: 2, batchSize: 32, learningRate: 1, negatives: 1, l2: 1e-4, trainer: 'tfjs',
    model: 'sasrec', sequence: { maxLen: 50, blocks: 2, heads: 1, dropout: 0.2 },
  };
}

const byHistory = (p: EvaluationPoint): Record<TestHistory, HeldOutMetrics> => {
  const t = p.testByHistory;
  if (!t || !t.train || !t['train+validation']) throw new Error(`evaluation of round ${p.round} lacks a test history`);
  return { 'train+validation': t['train+validation'], train: t.train };
};

const fmtS = (s: number) => (s < 90 ? `${s.toFixed(0)} s` : `${(s / 60).toFixed(1)} min`);

async function run(s: RunSpec, dataset: Dataset, split: UserSplit, candidates: EvaluationCandidates, index: string): Promise<RunResult> {
  const file = path.join(out, 'runs', `${s.id}.json`);
  const config = configFor(s);
  if (existsSync(file)) {
    const old = JSON.parse(readFileSync(file, 'utf8')) as RunResult;
    if (old.splitHash === candidates.splitHash && JSON.stringify(old.config) === JSON.stringify(config)) {
      console.error(`${index} ${s.id}: reused ${path.relative(process.cwd(), file)}`);
      return old;
    }
  }
  const t0 = performance.now();
  let firstNoiseStd = NaN;
  console.error(`${index} ${s.id}: ${s.model} q=${s.q} ${s.rounds} rounds, ${settingLabel(s.setting)}, server ${s.serverOptimizer} lr ${s.serverLr}${s.rowNormalize ? ', row-normalised' : ''}`);
  const r = await runInProcessSimulation(dataset, split, config, {
    onDpPlan: (plan) => console.error(`    z = ${plan.noiseMultiplier.toFixed(3)}, δ = ${plan.delta.toExponential(1)}, m = ${plan.expectedCohort.toFixed(1)}, noise std ${(plan.noiseMultiplier / plan.expectedCohort).toExponential(2)}·C per coordinate, budget ε = ${plan.epsilonBudget.toFixed(3)}`),
    onRound: (m, e) => {
      if (Number.isNaN(firstNoiseStd) && m.noiseStd !== undefined) firstNoiseStd = m.noiseStd;
      if (!e) return;
      const el = (performance.now() - t0) / 1000;
      const eta = (el / m.round) * (s.rounds - m.round);
      console.error(
        `    round ${m.round}/${s.rounds}${m.epsilon !== undefined ? `, ε ${m.epsilon.toFixed(2)}` : ''}, loss ${m.trainLoss.toFixed(3)}, ` +
          `val NDCG@10 ${e.validation?.sampled.ndcg10.toFixed(4)}, test HR@10 ${e.sampled.hr10.toFixed(4)} (${fmtS(el)}, ~${fmtS(eta)} left)`,
      );
    },
  }, candidates);
  const sel = selectByValidation(r.evaluations);
  const last = r.evaluations[r.evaluations.length - 1];
  const meanCohort = r.rounds.reduce((n, m) => n + m.clients, 0) / Math.max(1, r.rounds.length);
  const result: RunResult = {
    id: s.id,
    spec: s,
    splitHash: candidates.splitHash,
    config,
    selected: { round: sel.round, validation: sel.validation!, test: byHistory(sel) },
    final: { round: last.round, test: byHistory(last) },
    ...(r.privacy
      ? {
          privacy: {
            noiseMultiplier: r.privacy.plan.noiseMultiplier,
            delta: r.privacy.plan.delta,
            epsilonSpent: r.privacy.spent.epsilon,
            epsilonBudget: r.privacy.plan.epsilonBudget,
            expectedCohort: r.privacy.plan.expectedCohort,
            meanCohort: r.privacy.meanCohort,
            noiseStd: firstNoiseStd,
            noiseStdOverClip: r.privacy.plan.noiseMultiplier / r.privacy.plan.expectedCohort,
          },
        }
      : {}),
    meanCohort,
    trainSeconds: r.trainSeconds,
    evalSeconds: r.evalSeconds,
    evaluations: r.evaluations,
  };
  mkdirSync(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(result, null, 2) + '\n');
  const t = result.selected.test['train+validation'];
  console.error(
    `    done in ${fmtS((performance.now() - t0) / 1000)}: selected round ${sel.round}, test HR@10 ${t.sampled.hr10.toFixed(4)} / NDCG@10 ${t.sampled.ndcg10.toFixed(4)}` +
      (result.privacy ? `, ε spent ${result.privacy.epsilonSpent.toFixed(3)}` : ''),
  );
  return result;
}

// ---------------------------------------------------------------------------------------

const dataset = await loadSource({ kind: 'movielens', path: dataPath });
const split = researchSplit(dataset);
mkdirSync(out, { recursive: true });
const { candidates } = resolveCandidates(dataset, split, { outDir: out, log: (l) => console.error(l) });
if (models.includes('sasrec')) await useNodeBackend('wasm');
const popularity = evaluatePopularity(dataset, split, prepareEvaluation(split, dataset.numItems, { candidates }));
const specs = models.flatMap(specsFor);
console.error(`${dataset.name}: ${specs.length} runs (${models.join(', ')}), ε ∈ {${epsilons.join(', ')}} at δ = ${delta}; writing ${out}`);
const results: RunResult[] = [];
const tAll = performance.now();
for (const [i, s] of specs.entries()) {
  results.push(await run(s, dataset, split, candidates, `[${i + 1}/${specs.length}]`));
  const el = (performance.now() - tAll) / 1000;
  console.error(`    sweep: ${i + 1}/${specs.length} runs, ${fmtS(el)} so far`);
}

// The reported run of each configuration: the best server lr by validation NDCG@10 (100 neg.).
const configKey = (s: RunSpec) => `${s.group}|${s.model}|${s.q}|${s.rounds}|${settingId(s.setting)}|${s.rowNormalize}`;
const chosen = new Map<string, RunResult>();
for (const r of results) {
  const k = configKey(r.spec);
  const c = chosen.get(k);
  if (!c || r.selected.validation.sampled.ndcg10 > c.selected.validation.sampled.ndcg10) chosen.set(k, r);
}
const reported = [...chosen.values()];
const noDpOf = (r: RunResult) => chosen.get(configKey({ ...r.spec, group: 'sweep', setting: { kind: 'none' }, rowNormalize: false }));

// --- CSV: every run ---
const csvHeader = [
  'id', 'group', 'model', 'q', 'rounds', 'setting', 'target_epsilon', 'z', 'delta', 'epsilon_spent', 'fixed_cohort_m', 'mean_cohort', 'noise_std_over_clip', 'clip',
  'server_optimizer', 'server_lr', 'row_normalize', 'reported', 'selected_round', 'val_ndcg10_sampled',
  ...TEST_HISTORIES.flatMap((h) => ['hr10_sampled', 'ndcg10_sampled', 'hr10_full', 'ndcg10_full'].map((m) => `${m}_${h === 'train' ? 'train' : 'trainval'}`)),
  'train_seconds',
];
const csv = [csvHeader.join(',')];
for (const r of results) {
  const s = r.spec;
  csv.push([
    r.id, s.group, s.model, s.q, s.rounds, settingLabel(s.setting), s.setting.kind === 'epsilon' ? s.setting.epsilon : '', r.privacy?.noiseMultiplier ?? '', r.privacy?.delta ?? '',
    r.privacy?.epsilonSpent ?? '', r.privacy?.expectedCohort ?? '', r.meanCohort, r.privacy?.noiseStdOverClip ?? 0, s.clip, s.serverOptimizer, s.serverLr, s.rowNormalize,
    chosen.get(configKey(s)) === r, r.selected.round, r.selected.validation.sampled.ndcg10,
    ...TEST_HISTORIES.flatMap((h) => { const t = r.selected.test[h]; return [t.sampled.hr10, t.sampled.ndcg10, t.full.hr10, t.full.ndcg10]; }),
    r.trainSeconds.toFixed(1),
  ].join(','));
}
csv.push(['popularity', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', popularity.validation?.sampled.ndcg10 ?? '',
  ...TEST_HISTORIES.flatMap(() => [popularity.sampled.hr10, popularity.sampled.ndcg10, popularity.full.hr10, popularity.full.ndcg10]), ''].join(','));
await writeFile(path.join(out, 'privacy-sweep.csv'), csv.join('\n') + '\n');

// --- tables ---
const f4 = (x: number) => x.toFixed(4);
const rel = (x: number, ref: number | undefined) => (ref === undefined ? '–' : `${x >= ref ? '+' : '−'}${Math.abs(((x - ref) / ref) * 100).toFixed(1)} %`);
const md: string[] = [];
const cell = (t: HeldOutMetrics) => `${f4(t.sampled.hr10)} / ${f4(t.sampled.ndcg10)} | ${f4(t.full.hr10)} / ${f4(t.full.ndcg10)}`;
md.push(`# Privacy–utility sweep (${dataset.name}, ${new Date().toISOString().slice(0, 10)})`);
md.push('');
md.push(`Test HR@10 / NDCG@10 at the round with the best validation NDCG@10 (100 neg.), sampled (100 fixed negatives) | full ranking, under both test protocols (the test item scored from train ++ [validation item] — MF folds the validation item in — and from train only), of the same trained model. δ = ${delta} for every ε; z from the RDP accountant for the run's q and rounds. m: the fixed denominator q·N under DP (Poisson cohorts vary around it), the fixed cohort size without DP. σ/C = z/m: the noise std per coordinate of the released mean, in units of the clip bound. "vs no DP": HR@10 (sampled, train+validation) relative to the same model, q and rounds without DP. Each row is the best of its server learning rates by validation NDCG@10 (every run in privacy-sweep.csv).`);
md.push('');
md.push('| model | q (m) | rounds | setting | z | ε spent | σ/C | server | round | train+val: HR / NDCG (100 neg.) | HR / NDCG (full) | train: HR / NDCG (100 neg.) | HR / NDCG (full) | vs no DP |');
md.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of reported.filter((r) => r.spec.group === 'sweep')) {
  const s = r.spec;
  const ref = noDpOf(r);
  const tv = r.selected.test['train+validation'];
  md.push(
    `| ${s.model === 'mf' ? 'MF' : 'SASRec'} | ${s.q} (${r.privacy ? Number(r.privacy.expectedCohort.toFixed(2)) : Math.round(r.meanCohort)}) | ${s.rounds} | ${settingLabel(s.setting)} | ` +
      `${r.privacy ? r.privacy.noiseMultiplier.toFixed(3) : '–'} | ${r.privacy ? r.privacy.epsilonSpent.toFixed(3) : '–'} | ${r.privacy ? r.privacy.noiseStdOverClip.toExponential(2) : '0'} | ` +
      `${s.serverOptimizer} ${s.serverLr} | ${r.selected.round} | ${cell(tv)} | ${cell(r.selected.test.train)} | ${r === ref ? '–' : rel(tv.sampled.hr10, ref?.selected.test['train+validation'].sampled.hr10)} |`,
  );
}
md.push(`| popularity | – | – | – | – | – | – | – | – | ${cell(popularity)} | ${cell(popularity)} | – |`);
md.push('');

const rowNorm = reported.filter((r) => r.spec.group === 'rownorm');
if (rowNorm.length > 0) {
  md.push('## Row normalisation (no DP, MF)');
  md.push('');
  md.push('| row normalisation | q | rounds | server | round | train+val: HR / NDCG (100 neg.) | HR / NDCG (full) | train: HR / NDCG (100 neg.) | HR / NDCG (full) |');
  md.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of [...rowNorm, ...reported.filter((r) => r.spec.group === 'sweep' && r.spec.model === 'mf' && r.spec.setting.kind === 'none' && r.spec.q === rowNorm[0].spec.q)]) {
    md.push(`| ${r.spec.rowNormalize ? 'on' : 'off (DP pipeline)'} | ${r.spec.q} | ${r.spec.rounds} | ${r.spec.serverOptimizer} ${r.spec.serverLr} | ${r.selected.round} | ${cell(r.selected.test['train+validation'])} | ${cell(r.selected.test.train)} |`);
  }
  md.push('');
}

// --- noise threshold and projection ---
const projPopulation = Number(a['projection-population']);
const projDelta = a['projection-delta'] !== undefined ? Number(a['projection-delta']) : projPopulation ** -1.1;
const thresholds: { model: string; q: number; rounds: number; noDp: number; threshold?: number; points: { noiseStdOverClip: number; hr10: number; id: string }[] }[] = [];
for (const model of models) {
  const mine = reported.filter((r) => r.spec.model === model && r.spec.group !== 'rownorm' && r.spec.q === nums(a[`${model}-q`]!)[0]);
  const noDp = mine.find((r) => r.spec.setting.kind === 'none');
  if (!noDp) continue;
  const points = mine.filter((r) => r.privacy).map((r) => ({ noiseStdOverClip: r.privacy!.noiseStdOverClip, hr10: r.selected.test['train+validation'].sampled.hr10, id: r.id }));
  const noDpHr = noDp.selected.test['train+validation'].sampled.hr10;
  thresholds.push({ model, q: noDp.spec.q, rounds: noDp.spec.rounds, noDp: noDpHr, threshold: noiseThreshold(points, noDpHr, maxLoss), points });
}
md.push(`## Noise that keeps HR@10 within ${Math.round(maxLoss * 100)} % of no DP (measured on ${dataset.name})`);
md.push('');
md.push('| model | q | rounds | no-DP HR@10 | measured (σ/C → HR@10) | largest σ/C within |');
md.push('|---|---|---|---|---|---|');
for (const t of thresholds) {
  md.push(`| ${t.model} | ${t.q} | ${t.rounds} | ${f4(t.noDp)} | ${[...t.points].sort((x, y) => x.noiseStdOverClip - y.noiseStdOverClip).map((p) => `${p.noiseStdOverClip.toExponential(2)} → ${f4(p.hr10)}`).join('; ')} | ${t.threshold === undefined ? 'none measured' : t.threshold.toExponential(2)} |`);
}
md.push('');
const projection: ProjectionRow[] = [];
md.push(`## Projection (COMPUTED, not trained): a deployment of ${projPopulation.toLocaleString('en')} people, δ = ${projDelta.toExponential(2)}`);
md.push('');
md.push('Same rounds as the ML-100K runs of the model; σ/C = z/m per coordinate of the released mean, against ML-100K\'s at the same ε (the first q of the sweep).');
md.push('');
md.push('| model | rounds | m per round | q | ε | z | σ/C | ML-100K σ/C at this ε | ratio |');
md.push('|---|---|---|---|---|---|---|---|---|');
for (const t of thresholds) {
  for (const m of nums(a['projection-cohorts']!)) {
    for (const epsilon of nums(a['projection-epsilons']!)) {
      const p = projectNoise({ population: projPopulation, cohort: m, rounds: t.rounds, epsilon, delta: projDelta });
      projection.push(p);
      const ml = reported.find((r) => r.spec.model === t.model && r.spec.group === 'sweep' && r.spec.q === t.q && r.spec.setting.kind === 'epsilon' && r.spec.setting.epsilon === epsilon);
      const mlS = ml?.privacy?.noiseStdOverClip;
      md.push(`| ${t.model} | ${t.rounds} | ${m.toLocaleString('en')} | ${p.samplingRate} | ${epsilon} | ${p.noiseMultiplier.toFixed(3)} | ${p.noiseStdOverClip.toExponential(2)} | ${mlS === undefined ? '–' : mlS.toExponential(2)} | ${mlS === undefined ? '–' : (p.noiseStdOverClip / mlS).toPrecision(2)} |`);
    }
  }
}
md.push('');
const needed: { model: string; epsilon: number; threshold?: number; cohort?: ProjectionRow }[] = [];
for (const t of thresholds) {
  for (const epsilon of [1]) {
    const c = t.threshold === undefined ? undefined : cohortForNoise({ population: projPopulation, rounds: t.rounds, epsilon, delta: projDelta, maxNoiseStdOverClip: t.threshold });
    needed.push({ model: t.model, epsilon, threshold: t.threshold, cohort: c });
    md.push(
      t.threshold === undefined
        ? `- ${t.model}: no measured noise level stayed within ${Math.round(maxLoss * 100)} % of no-DP HR@10, so no cohort can be projected.`
        : c
          ? `- ${t.model}: σ/C ≤ ${t.threshold.toExponential(2)} kept HR@10 within ${Math.round(maxLoss * 100)} % on ${dataset.name}; with ${projPopulation.toLocaleString('en')} people, ${t.rounds} rounds, ε = ${epsilon} (δ = ${projDelta.toExponential(2)}) needs m ≥ ${c.cohort.toLocaleString('en')} participants per round (q = ${c.samplingRate.toPrecision(3)}, z = ${c.noiseMultiplier.toFixed(3)}, σ/C = ${c.noiseStdOverClip.toExponential(2)}).`
          : `- ${t.model}: even every one of ${projPopulation.toLocaleString('en')} people each round (q = 1) is noisier than σ/C = ${t.threshold.toExponential(2)} at ε = ${epsilon}.`,
    );
  }
}
md.push('');
await writeFile(path.join(out, 'table.md'), md.join('\n') + '\n');

// --- plots ---
const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const series: ChartSeries[] = [];
const groups = [...new Set(reported.filter((r) => r.spec.group === 'sweep').map((r) => `${r.spec.model}|${r.spec.q}`))];
groups.forEach((g, i) => {
  const [model, q] = g.split('|');
  const rs = reported.filter((r) => r.spec.group === 'sweep' && r.spec.model === model && String(r.spec.q) === q);
  const name = `${model === 'mf' ? 'MF' : 'SASRec'} q=${q}`;
  const pts = rs.filter((r) => r.spec.setting.kind === 'epsilon').map((r) => [(r.spec.setting as { epsilon: number }).epsilon, r.selected.test['train+validation'].sampled.hr10] as const).sort((x, y) => x[0] - y[0]);
  series.push({ name: `${name} DP`, color: colors[i % colors.length], points: pts });
  const nd = rs.find((r) => r.spec.setting.kind === 'none');
  if (nd) series.push({ name: `${name} no DP`, color: colors[i % colors.length], points: [[0, nd.selected.test['train+validation'].sampled.hr10]], horizontal: true });
});
series.push({ name: 'popularity', color: '#7f7f7f', points: [[0, popularity.sampled.hr10]], horizontal: true });
await writeFile(
  path.join(out, 'privacy-utility.svg'),
  lineChartSvg(series, { title: `${dataset.name}: test HR@10 (100 neg., train+validation) against ε (δ = ${delta})`, xLabel: 'ε', yLabel: 'HR@10' }),
);
const noiseSeries: ChartSeries[] = [];
thresholds.forEach((t, i) => {
  noiseSeries.push({ name: `${t.model} q=${t.q}`, color: colors[i % colors.length], points: [[0, t.noDp] as const, ...[...t.points].sort((x, y) => x.noiseStdOverClip - y.noiseStdOverClip).map((p) => [p.noiseStdOverClip * 1000, p.hr10] as const)] });
  noiseSeries.push({ name: `${t.model} ${Math.round((1 - maxLoss) * 100)} % of no DP`, color: colors[i % colors.length], points: [[0, (1 - maxLoss) * t.noDp]], horizontal: true });
});
noiseSeries.push({ name: 'popularity', color: '#7f7f7f', points: [[0, popularity.sampled.hr10]], horizontal: true });
await writeFile(
  path.join(out, 'noise-utility.svg'),
  lineChartSvg(noiseSeries, { title: `${dataset.name}: test HR@10 (100 neg.) against the noise std σ/C (×10⁻³)`, xLabel: 'σ/C = z/m (×10⁻³)', yLabel: 'HR@10' }),
);
await writeFile(
  path.join(out, 'results.json'),
  JSON.stringify({ data: dataset.name, delta, epsilons, machine: machineInfo(), popularity, runs: results.map((r) => { const { evaluations: _e, ...rest } = r; return { ...rest, reported: chosen.get(configKey(r.spec)) === r }; }), thresholds, projection, needed }, null, 2) + '\n',
);
console.log(md.join('\n'));
console.error(`wrote ${['privacy-sweep.csv', 'results.json', 'table.md', 'privacy-utility.svg', 'noise-utility.svg'].map((f) => path.join(out, f)).join(', ')} (${fmtS((performance.now() - tAll) / 1000)})`);
