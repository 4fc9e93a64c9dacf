import type { RoundMetrics } from './simulation-result.ts';

/** One client's contribution to a simulated round's metrics. */
export interface ClientOutcome {
  readonly loss: number;
  readonly numExamples: number;
  readonly preClipNorm: number;
  readonly clipped: boolean;
  readonly bytes: number;
}

/**
 * The per-round metrics every simulation reports (MF typed-array, MF tfjs, workers,
 * sequence model), accumulated one client at a time.
 */
export class RoundTally {
  private lossSum = 0;
  private examples = 0;
  private normSum = 0;
  private clipped = 0;
  private bytes = 0;
  private clients = 0;

  add(o: ClientOutcome): void {
    this.lossSum += o.loss * o.numExamples;
    this.examples += o.numExamples;
    this.normSum += o.preClipNorm;
    if (o.clipped) this.clipped++;
    this.bytes += o.bytes;
    this.clients++;
  }

  metrics(round: number, seconds: number): RoundMetrics {
    const n = Math.max(1, this.clients);
    return {
      round,
      clients: this.clients,
      trainLoss: this.examples > 0 ? this.lossSum / this.examples : 0,
      meanPreClipNorm: this.normSum / n,
      fractionClipped: this.clipped / n,
      bytesUploaded: this.bytes,
      seconds,
    };
  }
}

/** Whether round r is evaluated: every `evalEvery` rounds and always the last. */
export function isEvaluationRound(r: number, rounds: number, evalEvery: number): boolean {
  return r === rounds || (evalEvery > 0 && r % evalEvery === 0);
}
