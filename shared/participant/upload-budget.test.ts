import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlockError } from '../errors.ts';
import { budgetAllows, budgetFreesAt, checkUploadBudget, UPLOAD_WINDOW_MS, uploadedInWindow, type UploadRecord } from './upload-budget.ts';

const HOUR = UPLOAD_WINDOW_MS;
const now = 10 * HOUR;
const log: UploadRecord[] = [
  { modelKind: 'mf', bytes: 300, at: now - HOUR - 1 }, // left the window
  { modelKind: 'mf', bytes: 400, at: now - HOUR + 1000 },
  { modelKind: 'sasrec', bytes: 500, at: now - 10 },
];

test('the rolling hour counts every model and only the last hour', () => {
  assert.equal(uploadedInWindow(log, now), 900);
  assert.equal(uploadedInWindow(log, now + 1000), 500);
});

test('an upload that would take the hour over the budget is not allowed; one that fits exactly is', () => {
  assert.equal(budgetAllows(1000, log, 100, now), true);
  assert.equal(budgetAllows(1000, log, 101, now), false);
  assert.equal(budgetAllows(0, [], 1, now), false);
});

test('the budget frees up when enough of the hour has passed, never for an upload larger than the budget', () => {
  const at = budgetFreesAt(1000, log, 200, now);
  assert.equal(at, now - HOUR + 1000 + HOUR + 1); // once the 400-byte upload has left the window
  assert.equal(budgetAllows(1000, log, 200, at!), true);
  assert.equal(budgetAllows(1000, log, 200, at! - 2), false);
  assert.equal(budgetFreesAt(1000, log, 100, now), now);
  assert.equal(budgetFreesAt(1000, log, 1001, now), null);
});

test('a budget must be whole bytes in [0, 1 GB]; anything else is a bad-config error', () => {
  assert.equal(checkUploadBudget(0), 0);
  assert.equal(checkUploadBudget(1_000_000), 1_000_000);
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2e9]) {
    assert.throws(() => checkUploadBudget(bad), (e: unknown) => e instanceof FlockError && e.code === 'bad-config', String(bad));
  }
});
