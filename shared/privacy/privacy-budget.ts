/**
 * The privacy a model has spent, and the budget that stops it. One per model: the
 * coordinator keeps it with every saved version, the simulation per run.
 *
 * charge() composes one released round (Poisson rate q, the plan's z) into the RDP
 * accountant; check() says, before a round is opened, whether releasing it would keep
 * the spent ε within the plan's budget and the rounds within the round budget. A round
 * that releases nothing (no quorum, a failed save) is not charged: nobody saw anything.
 */
import { FlockError } from '../errors.ts';
import type { DpPlan } from './dp-plan.ts';
import { RdpAccountant } from './rdp-accountant.ts';

export interface SpentPrivacy {
  /** ε spent so far at the plan's δ (0 before the first round). */
  readonly epsilon: number;
  readonly delta: number;
  readonly rounds: number;
}

/** The JSON a version record keeps: enough to resume the accountant exactly. */
export interface PrivacyLedger {
  readonly noiseMultiplier: number;
  readonly delta: number;
  readonly epsilon: number;
  readonly rounds: number;
  readonly accountant: { orders: number[]; rdp: number[]; steps: number };
}

export type BudgetCheck = { readonly ok: true; readonly epsilonAfter: number } | { readonly ok: false; readonly epsilonAfter: number; readonly reason: string };

/** Spent ε may exceed the budget by this relative slack (float noise in the accountant), no more. */
const SLACK = 1e-9;

export class PrivacyBudget {
  private readonly accountant: RdpAccountant;
  private roundsSpent: number;

  constructor(readonly plan: DpPlan, ledger?: PrivacyLedger) {
    if (ledger) {
      if (!(Number.isInteger(ledger.rounds) && ledger.rounds >= 0)) throw new FlockError('bad-config', `privacy ledger has ${ledger.rounds} rounds`);
      this.accountant = RdpAccountant.fromJSON(ledger.accountant);
      this.roundsSpent = ledger.rounds;
    } else {
      this.accountant = new RdpAccountant();
      this.roundsSpent = 0;
    }
  }

  get spent(): SpentPrivacy {
    return { epsilon: this.roundsSpent === 0 ? 0 : this.accountant.epsilon(this.plan.delta, this.plan.conversion).epsilon, delta: this.plan.delta, rounds: this.roundsSpent };
  }

  get exhausted(): boolean {
    return !this.check(this.plan.samplingRate).ok;
  }

  /** Whether one more round sampled at rate q may be released. */
  check(q: number): BudgetCheck {
    const epsilonAfter = this.accountant.epsilonAfter(q, this.plan.noiseMultiplier, 1, this.plan.delta, this.plan.conversion).epsilon;
    if (this.roundsSpent >= this.plan.rounds) return { ok: false, epsilonAfter, reason: `the round budget of ${this.plan.rounds} rounds is spent` };
    if (epsilonAfter > this.plan.epsilonBudget * (1 + SLACK)) {
      return { ok: false, epsilonAfter, reason: `one more round would spend ε = ${epsilonAfter.toFixed(3)} > the budget ${this.plan.epsilonBudget.toFixed(3)} (δ = ${this.plan.delta.toExponential(2)})` };
    }
    return { ok: true, epsilonAfter };
  }

  /** Composes one released round sampled at rate q. */
  charge(q: number): SpentPrivacy {
    this.accountant.compose(q, this.plan.noiseMultiplier, 1);
    this.roundsSpent++;
    return this.spent;
  }

  ledger(): PrivacyLedger {
    const s = this.spent;
    return { noiseMultiplier: this.plan.noiseMultiplier, delta: s.delta, epsilon: s.epsilon, rounds: s.rounds, accountant: this.accountant.toJSON() };
  }
}
