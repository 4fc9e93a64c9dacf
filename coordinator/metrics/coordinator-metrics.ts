import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ModelPrivacy, RejectionCode, RoundOutcome } from '../../shared/protocol/messages.ts';
import { RoundOutcomeSchema } from '../../shared/protocol/messages.ts';
import type { RoundObserver } from '../rounds/round-observer.ts';

/** What the metrics read from a served model's round engine when scraped. */
export interface ObservedModel {
  readonly kind: string;
  readonly engine: {
    readonly connectedClients: number;
    readonly eligibleClients: number;
    readonly currentVersion: number;
    readonly currentRound: number;
    /** Under differential privacy: the spent budget (null or absent without DP). */
    readonly privacy?: ModelPrivacy | null;
  };
}

/** Why the edge refused something before it reached a round (socket handshakes, messages, REST). */
export type EdgeRefusal =
  | 'forbidden-origin'
  | 'unauthorized'
  | 'too-many-connections'
  | 'rate-limited'
  | 'too-large'
  | 'malformed';

const swallow = (fn: () => void): void => {
  try {
    fn();
  } catch {
    // An observer never stops a round.
  }
};

/**
 * The coordinator's Prometheus metrics, each instance with its own registry (tests run
 * several coordinators in one process). It is the round engines' RoundObserver, reads
 * the engines' participant counts when scraped, counts what the edge refused, and the
 * bytes that came in (updates, HTTP bodies, socket frames) and went out (weights,
 * socket frames); plus Node's process metrics (memory, CPU, event loop).
 */
export class CoordinatorMetrics implements RoundObserver {
  readonly registry = new Registry();
  private models: readonly ObservedModel[] = [];

  private readonly rounds: Counter<'model' | 'outcome'>;
  private readonly roundSeconds: Histogram<'model' | 'outcome'>;
  private readonly updatesAccepted: Counter<'model'>;
  private readonly updatesRejected: Counter<'model' | 'code'>;
  private readonly updateBytes: Counter<'model' | 'result'>;
  private readonly refusals: Counter<'reason'>;
  private readonly credentialsIssued: Counter;
  private readonly httpRequests: Counter<'method' | 'status'>;
  private readonly httpBodyBytes: Counter;
  private readonly weightsBytes: Counter<'model'>;
  private readonly socketBytes: Counter<'direction'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const self = this;
    // One gauge per figure, labelled by model; a model for which `read` gives undefined has no sample.
    const perModel = (name: string, help: string, read: (m: ObservedModel) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['model'],
        registers,
        collect() {
          this.reset();
          for (const m of self.models) {
            const v = read(m);
            if (v !== undefined) this.set({ model: m.kind }, v);
          }
        },
      });
    perModel('flock_participants_connected', 'Participants joined to a model\'s rounds right now', (m) => m.engine.connectedClients);
    perModel('flock_participants_eligible', 'Connected participants with enough data to be selected', (m) => m.engine.eligibleClients);
    perModel('flock_model_version', 'Current global version of each model', (m) => m.engine.currentVersion);
    perModel('flock_round', 'Last round number of each model', (m) => m.engine.currentRound);

    // Differential privacy, only for models that have it.
    const perDpModel = (name: string, help: string, read: (p: ModelPrivacy) => number) =>
      perModel(name, help, (m) => {
        const p = m.engine.privacy;
        return p ? read(p) : undefined;
      });
    perDpModel('flock_dp_epsilon_spent', 'Differential privacy: ε spent over every released round, at flock_dp_delta', (p) => p.epsilon);
    perDpModel('flock_dp_epsilon_budget', 'Differential privacy: the ε the spent privacy may never exceed', (p) => p.epsilonBudget);
    perDpModel('flock_dp_delta', 'Differential privacy: the δ of the guarantee', (p) => p.delta);
    perDpModel('flock_dp_rounds_spent', 'Differential privacy: released (charged) rounds', (p) => p.rounds);
    perDpModel('flock_dp_round_budget', 'Differential privacy: the round budget', (p) => p.roundBudget);
    perDpModel('flock_dp_budget_exhausted', 'Differential privacy: 1 once no further round fits the budget (no more training; the last model is served)', (p) => (p.exhausted ? 1 : 0));
    perDpModel('flock_dp_clip_norm', 'Differential privacy: the clip bound of the next round (moves with adaptive clipping)', (p) => p.clipNorm);
    perDpModel('flock_dp_noise_multiplier', 'Differential privacy: the noise multiplier z of every round', (p) => p.noiseMultiplier);

    this.rounds = new Counter({ name: 'flock_rounds_total', help: 'Rounds closed, by outcome', labelNames: ['model', 'outcome'], registers });
    this.roundSeconds = new Histogram({
      name: 'flock_round_duration_seconds',
      help: 'Time from a round\'s announcement to its close',
      labelNames: ['model', 'outcome'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
      registers,
    });
    this.updatesAccepted = new Counter({ name: 'flock_updates_accepted_total', help: 'Updates that passed every check and were folded into a round', labelNames: ['model'], registers });
    this.updatesRejected = new Counter({ name: 'flock_updates_rejected_total', help: 'Updates refused, by rejection code', labelNames: ['model', 'code'], registers });
    this.updateBytes = new Counter({ name: 'flock_update_bytes_total', help: 'Bytes of updates received, accepted or rejected', labelNames: ['model', 'result'], registers });
    this.refusals = new Counter({ name: 'flock_edge_refusals_total', help: 'Handshakes, messages and requests refused at the edge, by reason', labelNames: ['reason'], registers });
    this.credentialsIssued = new Counter({ name: 'flock_credentials_issued_total', help: 'Participant credentials issued', registers });
    this.httpRequests = new Counter({ name: 'flock_http_requests_total', help: 'HTTP requests answered, by method and status class', labelNames: ['method', 'status'], registers });
    this.httpBodyBytes = new Counter({ name: 'flock_http_request_body_bytes_total', help: 'Bytes of HTTP request bodies received (Content-Length)', registers });
    this.weightsBytes = new Counter({ name: 'flock_weights_bytes_served_total', help: 'Bytes of model weights served over REST', labelNames: ['model'], registers });
    this.socketBytes = new Counter({ name: 'flock_socket_bytes_total', help: 'Bytes of socket.io packets, by direction (in: from participants, out: to them)', labelNames: ['direction'], registers });
    for (const direction of ['in', 'out']) this.socketBytes.inc({ direction }, 0);
    this.credentialsIssued.inc(0);
  }

  /** The served models, once their engines run: per-model series start at zero. */
  watch(models: readonly ObservedModel[]): void {
    this.models = models;
    for (const { kind: model } of models) {
      for (const outcome of RoundOutcomeSchema.options) this.rounds.inc({ model, outcome }, 0);
      this.updatesAccepted.inc({ model }, 0);
      for (const result of ['accepted', 'rejected']) this.updateBytes.inc({ model, result }, 0);
      this.weightsBytes.inc({ model }, 0);
    }
  }

  // ---- RoundObserver

  roundClosed(model: string, outcome: RoundOutcome, seconds: number): void {
    swallow(() => {
      this.rounds.inc({ model, outcome });
      if (Number.isFinite(seconds) && seconds >= 0) this.roundSeconds.observe({ model, outcome }, seconds);
    });
  }

  updateAccepted(model: string, bytes: number): void {
    swallow(() => {
      this.updatesAccepted.inc({ model });
      if (bytes > 0) this.updateBytes.inc({ model, result: 'accepted' }, bytes);
    });
  }

  updateRejected(model: string, code: RejectionCode, bytes: number): void {
    swallow(() => {
      this.updatesRejected.inc({ model, code });
      if (bytes > 0) this.updateBytes.inc({ model, result: 'rejected' }, bytes);
    });
  }

  // ---- the edge

  refused(reason: EdgeRefusal): void {
    swallow(() => this.refusals.inc({ reason }));
  }

  credentialIssued(): void {
    swallow(() => this.credentialsIssued.inc());
  }

  weightsServed(model: string, bytes: number): void {
    swallow(() => this.weightsBytes.inc({ model }, bytes));
  }

  socketTraffic(direction: 'in' | 'out', bytes: number): void {
    if (bytes > 0) swallow(() => this.socketBytes.inc({ direction }, bytes));
  }

  /** Counts every HTTP request (by method and status class) and its body bytes. */
  readonly http: RequestHandler = (req, res, next) => {
    const length = Number(req.headers['content-length'] ?? 0);
    if (Number.isFinite(length) && length > 0) swallow(() => this.httpBodyBytes.inc(length));
    res.once('finish', () => swallow(() => this.httpRequests.inc({ method: methodLabel(req.method), status: `${Math.floor(res.statusCode / 100)}xx` })));
    next();
  };

  /** GET /metrics: the Prometheus text format. */
  readonly handler: RequestHandler = async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.type(this.registry.contentType).send(await this.registry.metrics());
  };
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
/** Request methods as labels, without letting a client invent new series. */
const methodLabel = (m: string): string => (METHODS.has(m) ? m : 'other');
