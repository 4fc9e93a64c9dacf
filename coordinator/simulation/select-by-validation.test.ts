import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EvaluationPoint } from './simulation-result.ts';
import { selectByValidation } from './select-by-validation.ts';

const m = (hr: number, ndcg: number) => ({ sampled: { hr10: hr, ndcg10: ndcg }, full: { hr10: hr / 5, ndcg10: ndcg / 5 }, users: 10 });
const point = (round: number, test: number, val?: number): EvaluationPoint => ({ round, ...m(test, test / 2), ...(val === undefined ? {} : { validation: m(val * 2, val) }) });

test('selects the best validation NDCG@10, earliest on ties, ignoring the test metrics', () => {
  const evals = [point(0, 0.1, 0.05), point(5, 0.9, 0.3), point(10, 0.2, 0.4), point(15, 0.95, 0.4)];
  assert.equal(selectByValidation(evals).round, 10);
});

test('falls back to the last point without validation metrics', () => {
  assert.equal(selectByValidation([point(0, 0.1), point(3, 0.2)]).round, 3);
  assert.throws(() => selectByValidation([]));
});
