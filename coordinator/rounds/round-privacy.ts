/**
 * Differential privacy for one served model (DP-FedAvg, McMahan et al. 2018; issue 9):
 * the plan, the budget that stops training, and the clip bound of the next round.
 *
 * - Sampling: every eligible participant joins a round independently with probability
 *   q = --clients-per-round (Poisson), the rate the accountant charges; the release is
 *   (Σ Δ + N(0, (z_Δ·C)²)) / m with the plan's fixed m = q × population
 *   (shared/aggregate/round-aggregation.ts), its noise from the CSPRNG.
 * - Budget: a round opens only if releasing it keeps the spent ε within the budget and
 *   the rounds within the round budget (check()). A round is charged when its version
 *   is saved (prepareRelease → save → commit): a round that released nothing — no
 *   quorum, a failed save — is not, and a saved one is never lost.
 * - Persistence: every version saved under DP carries a privacy record (the accountant's
 *   state and the next clip bound; coordinator/store/privacy-record.ts). openRoundPrivacy
 *   resumes from the newest one and refuses every folder where spent privacy cannot be
 *   known, instead of starting over at ε = 0.
 */
import type { Logger } from 'pino';
import type { AdaptiveClipSettings } from '../../shared/aggregate/adaptive-clipping.ts';
import type { AggregationSettings } from '../../shared/aggregate/aggregation-settings.ts';
import type { DpRelease, RoundDp } from '../../shared/aggregate/round-aggregation.ts';
import { FlockError } from '../../shared/errors.ts';
import { describeDpPlan, type DpPlan } from '../../shared/privacy/dp-plan.ts';
import { PrivacyBudget, type BudgetCheck, type PrivacyLedger, type SpentPrivacy } from '../../shared/privacy/privacy-budget.ts';
import type { ModelPrivacy } from '../../shared/protocol/messages.ts';
import { secureGaussianNoise, type GaussianNoise } from '../../shared/random/gaussian-noise.ts';
import { planServeDp, type ServeConfig } from '../serve-config.ts';
import type { CheckpointStore } from '../store/checkpoint-store.ts';
import type { PrivacyRecord } from '../store/privacy-record.ts';

export class RoundPrivacy {
  private budget: PrivacyBudget;
  private clip: number;
  private spentNow: SpentPrivacy;
  private checkNow: BudgetCheck;

  constructor(
    readonly modelKind: string,
    readonly plan: DpPlan,
    readonly adaptiveClip: AdaptiveClipSettings | undefined,
    clipNorm: number,
    ledger?: PrivacyLedger,
    /** Where the noise comes from: the CSPRNG (tests may not pass anything else to a coordinator). */
    private readonly noise: GaussianNoise = secureGaussianNoise(),
  ) {
    if (!(Number.isFinite(clipNorm) && clipNorm > 0)) throw new FlockError('bad-config', `clip bound must be positive, got ${clipNorm}`);
    this.clip = clipNorm;
    this.budget = new PrivacyBudget(plan, ledger);
    this.spentNow = this.budget.spent;
    this.checkNow = this.budget.check(plan.samplingRate);
  }

  /** The clip bound of the next round: announced to its participants and enforced on their updates. */
  get clipNorm(): number {
    return this.clip;
  }

  get spent(): SpentPrivacy {
    return this.spentNow;
  }

  /** Whether one more round may be released (computed after each charge: cheap to ask). */
  check(): BudgetCheck {
    return this.checkNow;
  }

  /** The aggregation of a DP round: the streaming mean, uniform weights, no row normalisation, this round's C. */
  aggregationSettings(): AggregationSettings {
    return { combine: { kind: 'mean' }, weighting: { kind: 'uniform' }, rowNormalize: false, clipNorm: this.clip };
  }

  /** What RoundAggregation's noise stage needs for one round. */
  roundDp(): RoundDp {
    return {
      noiseMultiplier: this.plan.noiseMultiplier,
      expectedCohort: this.plan.expectedCohort,
      ...(this.adaptiveClip ? { adaptiveClip: this.adaptiveClip } : {}),
      noise: this.noise,
    };
  }

  /** The record of the privacy spent so far, for a version saved without a release (initial weights). */
  currentRecord(version: number, round: number): PrivacyRecord {
    return this.record(version, round, this.budget.ledger(), this.clip);
  }

  /**
   * The privacy record of a version that releases this round, computed without charging
   * anything yet; commit() charges it, and must be called only once that version is saved.
   */
  prepareRelease(release: DpRelease, version: number, round: number): { record: PrivacyRecord; commit: () => SpentPrivacy } {
    const after = new PrivacyBudget(this.plan, this.budget.ledger());
    after.charge(this.plan.samplingRate);
    const nextClip = release.nextClipNorm ?? this.clip;
    const record = this.record(version, round, after.ledger(), nextClip);
    let done = false;
    return {
      record,
      commit: () => {
        if (done) throw new FlockError('bad-config', 'a release is charged once');
        done = true;
        this.budget = after;
        this.clip = nextClip;
        this.spentNow = after.spent;
        this.checkNow = after.check(this.plan.samplingRate);
        return this.spentNow;
      },
    };
  }

  /** What GET /api/models/:kind says about the model's privacy. */
  status(version: number): ModelPrivacy {
    return {
      mechanism: 'dp-fedavg',
      epsilon: this.spentNow.epsilon,
      delta: this.plan.delta,
      epsilonBudget: this.plan.epsilonBudget,
      rounds: this.spentNow.rounds,
      roundBudget: this.plan.rounds,
      noiseMultiplier: this.plan.noiseMultiplier,
      samplingRate: this.plan.samplingRate,
      population: this.plan.population,
      clipNorm: this.clip,
      adaptiveClipping: this.adaptiveClip !== undefined,
      exhausted: !this.checkNow.ok,
      version,
    };
  }

  private record(version: number, round: number, ledger: PrivacyLedger, clipNorm: number): PrivacyRecord {
    const p = this.plan;
    return {
      format: 1,
      mechanism: 'dp-fedavg',
      modelKind: this.modelKind,
      version,
      round,
      ledger: { ...ledger, accountant: { orders: [...ledger.accountant.orders], rdp: [...ledger.accountant.rdp], steps: ledger.accountant.steps } },
      clipNorm,
      adaptiveClipping: this.adaptiveClip !== undefined,
      plan: {
        noiseMultiplier: p.noiseMultiplier,
        delta: p.delta,
        samplingRate: p.samplingRate,
        population: p.population,
        expectedCohort: p.expectedCohort,
        rounds: p.rounds,
        epsilonBudget: p.epsilonBudget,
        conversion: String(p.conversion),
      },
    };
  }
}

const versionList = (vs: number[]): string => (vs.length <= 6 ? vs.join(', ') : `${vs.slice(0, 3).join(', ')}, …, ${vs.slice(-2).join(', ')} (${vs.length} versions)`);

/**
 * Resumes one model's privacy from its data dir, or refuses to start:
 *
 * - DP off: undefined; versions released under DP in the folder are only mentioned in
 *   the log (the new versions carry no guarantee).
 * - DP on, a trained version (round > 0) without a privacy record: refused. Its updates
 *   were published without noise; no budget can cover them. Use a fresh --data-dir.
 * - DP on, the newest version's record damaged: refused ('store-damaged'): what was
 *   spent cannot be known.
 * - Versions newer than the resumed one moved aside as damaged were published: their
 *   records (moved aside with them) still count; one without a readable record refuses.
 * - Otherwise the budget resumes from the record with the most rounds, and the adaptive
 *   clip bound with it.
 */
export async function openRoundPrivacy(store: CheckpointStore, modelKind: string, latest: { version: number; round: number }, config: ServeConfig, log: Logger): Promise<RoundPrivacy | undefined> {
  const dir = store.dataDir;
  const entries = store.entries();
  const dpVersions = entries.filter((e) => e.privacy).map((e) => e.version);
  const resolved = planServeDp(config);
  if (!resolved) {
    if (dpVersions.length > 0) {
      log.warn({ model: modelKind, dpVersions: versionList(dpVersions) }, 'this data dir holds versions released under differential privacy, but DP is off now: versions from here on carry no privacy guarantee');
    }
    return undefined;
  }
  const { plan, adaptiveClip } = resolved;
  const plain = entries.filter((e) => e.round > 0 && !e.privacy).map((e) => e.version);
  if (plain.length > 0) {
    throw new FlockError('bad-config', `${dir} holds versions trained without differential privacy (${versionList(plain)}: no privacy record). The updates behind them were published without noise: their privacy loss is unbounded and no budget can account for it. Start differential privacy in a fresh --data-dir (or serve this one without --dp-noise / --target-epsilon).`);
  }

  let from: { version: number; record: PrivacyRecord } | undefined;
  const read = await store.readPrivacy(latest.version);
  if (read.status === 'damaged') {
    throw new FlockError('store-damaged', `${dir}: the privacy record of version ${latest.version} ${read.reason}. The privacy this model has spent cannot be known, and differential privacy never starts over at ε = 0. Restore that file (versions/, see manifest.json) from a backup, or move ${dir} aside to start this model again from new initial weights.`);
  }
  if (read.status === 'ok') from = { version: latest.version, record: read.record };
  for (const lost of await store.damagedVersionsAfter(latest.version)) {
    if (lost.privacy.status !== 'ok') {
      const why = lost.privacy.status === 'none' ? 'has no privacy record' : `has a privacy record that ${lost.privacy.reason}`;
      throw new FlockError('store-damaged', `${dir}: version ${lost.version} was moved aside as damaged and ${why}; it may have been published, so the privacy its round spent cannot be known. Restore it from a backup; or, if you know it was never served, remove versions/v${String(lost.version).padStart(6, '0')}.*.damaged-* and start again.`);
    }
    if (lost.privacy.record.ledger.rounds > (from?.record.ledger.rounds ?? 0)) {
      log.warn({ model: modelKind, version: lost.version, resumedVersion: latest.version, epsilon: lost.privacy.record.ledger.epsilon, rounds: lost.privacy.record.ledger.rounds }, 'a newer version was moved aside as damaged; it was published, so the privacy its rounds spent stays spent (budget resumed from its record)');
      from = { version: lost.version, record: lost.privacy.record };
    }
  }

  const record = from?.record;
  const clipNorm = adaptiveClip && record?.adaptiveClipping ? record.clipNorm : config.round.clipNorm;
  let privacy: RoundPrivacy;
  try {
    privacy = new RoundPrivacy(modelKind, plan, adaptiveClip, clipNorm, record?.ledger);
  } catch (err) {
    if (!(err instanceof FlockError) || !record) throw err;
    throw new FlockError('store-damaged', `${dir}: the privacy record of version ${from!.version} cannot be resumed (${err.message}). Restore it from a backup, or move ${dir} aside to start this model again.`);
  }
  if (record) {
    const was = record.plan;
    const changed = (['noiseMultiplier', 'delta', 'samplingRate', 'population', 'rounds', 'epsilonBudget'] as const).filter((k) => Math.abs(was[k] - plan[k]) > 1e-12 * Math.max(1, Math.abs(plan[k])));
    if (changed.length > 0) {
      log.warn({ model: modelKind, changed: Object.fromEntries(changed.map((k) => [k, { was: was[k], now: plan[k] }])) }, 'the DP plan changed since the resumed version: the privacy already spent stays spent and counts against the new budget');
    }
  }
  const s = privacy.spent;
  log.info(
    { model: modelKind, epsilon: s.epsilon, epsilonBudget: plan.epsilonBudget, rounds: s.rounds, roundBudget: plan.rounds, clipNorm: privacy.clipNorm, adaptiveClip: adaptiveClip ?? null, resumedFrom: from?.version ?? null },
    `differential privacy on: ${describeDpPlan(plan)}; spent so far ε = ${s.epsilon.toFixed(3)} over ${s.rounds} rounds${from ? ` (from version ${from.version})` : ''}; clip bound ${privacy.clipNorm}${adaptiveClip ? ` adapting to the ${adaptiveClip.targetQuantile} quantile` : ''}`,
  );
  return privacy;
}
