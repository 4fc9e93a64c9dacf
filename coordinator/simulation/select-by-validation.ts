import type { EvaluationPoint } from './simulation-result.ts';

/**
 * The evaluation point a run reports as its result: the one with the best validation
 * NDCG@10 (100 sampled negatives; the validation item scored from the train history),
 * the earliest on ties — so rounds/epochs are chosen without looking at the test item.
 * Falls back to the last point when no point has validation metrics.
 */
export function selectByValidation(evaluations: readonly EvaluationPoint[]): EvaluationPoint {
  if (evaluations.length === 0) throw new Error('selectByValidation: no evaluations');
  let best: EvaluationPoint | undefined;
  for (const e of evaluations) {
    if (!e.validation) continue;
    if (!best || e.validation.sampled.ndcg10 > best.validation!.sampled.ndcg10) best = e;
  }
  return best ?? evaluations[evaluations.length - 1];
}
