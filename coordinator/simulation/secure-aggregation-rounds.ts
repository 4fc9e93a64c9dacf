/**
 * `flock simulate --secure-aggregation`: each round's client updates are summed by the
 * secure aggregation protocol (shared/secagg/: Bonawitz et al. 2017 with the SecAgg+ graph
 * of Bell et al. 2020), in-process through runSecAggRound — the same SecAggClient and
 * SecAggServer code the browsers and the coordinator run, every message built and parsed.
 *
 * Per round: every sampled client's clipped delta is densified and flattened over the
 * GLOBAL parameters (shared/update/flat-global-vector.ts), encoded in the ring and masked;
 * a seeded `dropoutFraction` of the round's participants vanish after sending their masked
 * input (the protocol recovers their self-masks from their neighbours); the server
 * unmasks the SUM. What the server step sees is the same release the coordinator makes
 * (coordinator/rounds/secure-round-release.ts): the sum over the survivors divided by their
 * number, or under DP the DP-FedAvg noise added to the unmasked sum over the fixed cohort.
 * Stochastic rounding draws from a seeded source, so a run is reproducible.
 */
import type { AggregationSettings } from '../../shared/aggregate/aggregation-settings.ts';
import type { RoundDp } from '../../shared/aggregate/round-aggregation.ts';
import { checkSecureAggregationSettings } from '../../shared/aggregate/secure-aggregation-settings.ts';
import { FlockError } from '../../shared/errors.ts';
import type { ModelSpec } from '../../shared/model/model-spec.ts';
import { globalParams } from '../../shared/model/model-spec.ts';
import { deriveSeed, SeededRandom } from '../../shared/random/seeded-random.ts';
import { runSecAggRound } from '../../shared/secagg/run-secagg-round.ts';
import { isSecAggError } from '../../shared/secagg/secagg-error.ts';
import { buildSecAggParams } from '../../shared/secagg/secagg-params.ts';
import type { SecAggSum } from '../../shared/secagg/secagg-server.ts';
import { elementCount } from '../../shared/tensor/named-tensors.ts';
import type { DeltaTensors } from '../../shared/update/check-update.ts';
import { flattenGlobals } from '../../shared/update/flat-global-vector.ts';
import { SecureSumRelease } from '../rounds/secure-round-release.ts';
import type { SimulationConfig, SimulationSecureAggregation } from './simulation-config.ts';

export interface SecureRoundOutcome {
  /** What the server step (or the DP release) reads: result() and dpRelease(). */
  readonly release: SecureSumRelease;
  /** Updates in the unmasked sum (0 when the round could not be unmasked). */
  readonly summands: number;
  /** Every participant's protocol bytes sent this round, summed. */
  readonly bytesUploaded: number;
}

const ROUNDING_TAG = 0x5ec;
const DROP_TAG = 0xd20;

/** One round's updates on their way into the secure sum. */
export class SecureRoundSum {
  private readonly updates = new Map<string, Float32Array>();

  constructor(
    private readonly spec: ModelSpec,
    private readonly settings: SimulationSecureAggregation,
    private readonly seed: number,
    private readonly round: number,
    private readonly clipNorm: number,
  ) {}

  /** A client's clipped delta (dense or row-sparse per tensor). */
  submit(user: number, delta: DeltaTensors): void {
    this.updates.set(`user-${String(user).padStart(8, '0')}`, flattenGlobals(this.spec, densify(this.spec, delta), this.clipNorm));
  }

  /** Runs the protocol over the submitted updates; a round that cannot be unmasked releases nothing (or, under DP, the noise alone). */
  release(dp: RoundDp | undefined): SecureRoundOutcome {
    const ids = [...this.updates.keys()];
    let sum: SecAggSum | null = null;
    let bytesUploaded = 0;
    if (ids.length >= 2) {
      const params = buildSecAggParams({
        context: `simulate/seed-${this.seed}/round-${this.round}`,
        participants: ids,
        vectorLength: this.updates.get(ids[0])!.length,
        clipBound: this.clipNorm,
        dropoutFraction: this.settings.dropoutFraction,
      });
      const pick = new SeededRandom(deriveSeed(this.seed, this.round, DROP_TAG));
      const afterMaskedInput = pick.shuffle([...params.participants]).slice(0, Math.floor(this.settings.dropoutFraction * ids.length));
      const rng = new SeededRandom(deriveSeed(this.seed, this.round, ROUNDING_TAG));
      const rounding = { next: () => 1 - rng.next() }; // (0, 1]
      try {
        const r = runSecAggRound(params, this.updates, { rounding, measure: true, drop: { afterMaskedInput } });
        sum = r;
        for (const c of r.clientCost!.values()) bytesUploaded += c.bytesSent;
      } catch (e) {
        if (!isSecAggError(e, 'too-many-dropped')) throw e;
      }
    }
    return { release: new SecureSumRelease(this.spec, sum, this.clipNorm, dp), summands: sum?.summands ?? 0, bytesUploaded };
  }
}

/** Row-sparse tensors as dense arrays (every unlisted row 0): a masked vector is dense by construction. */
function densify(spec: ModelSpec, delta: DeltaTensors): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const p of globalParams(spec)) {
    const t = delta[p.name];
    if (t === undefined || t instanceof Float32Array) {
      if (t) out[p.name] = t;
      continue;
    }
    const dense = new Float32Array(elementCount(p.shape));
    const width = t.rows.length > 0 ? t.data.length / t.rows.length : 0;
    for (let k = 0; k < t.rows.length; k++) dense.set(t.data.subarray(k * width, (k + 1) * width), t.rows[k] * width);
    out[p.name] = dense;
  }
  return out;
}

/** Refuses (FlockError 'bad-config') a simulation secure aggregation cannot run with. */
export function checkSimulationSecureAggregation(cfg: SimulationConfig, settings: AggregationSettings): void {
  checkSecureAggregationSettings(settings, { adaptiveClip: cfg.dp?.adaptiveClip !== undefined });
  const f = cfg.secureAggregation?.dropoutFraction;
  if (!(f !== undefined && Number.isFinite(f) && f >= 0 && f < 0.5)) throw new FlockError('bad-config', `--secagg-dropout must be in [0, 0.5) (each neighbourhood keeps a majority), got ${f}`);
  if (cfg.updateEncoding) throw new FlockError('bad-config', '--update-encoding cannot be used with --secure-aggregation: the masked ring encoding is what travels (32 bits per coordinate, dense)');
}
