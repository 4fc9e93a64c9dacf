import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeModelStatus, type ModelStatusInput } from './model-status.ts';

const base: ModelStatusInput = {
  participating: true, privacySpent: false, replaced: false, connected: true, everConnected: true,
  training: false, version: 3, interactions: 4, minInteractions: 1, peopleOnline: 3, hold: null,
};
const state = (over: Partial<ModelStatusInput>) => describeModelStatus({ ...base, ...over }).state;

test('each situation gets its own state', () => {
  assert.equal(state({}), 'up-to-date');
  assert.equal(state({ training: true }), 'training');
  assert.equal(state({ peopleOnline: 1 }), 'waiting');
  assert.equal(state({ version: 0 }), 'waiting');
  assert.equal(state({ interactions: 0 }), 'needs-likes');
  assert.equal(state({ connected: false }), 'offline');
  assert.equal(state({ connected: false, everConnected: false }), 'connecting');
  assert.equal(state({ participating: false }), 'opted-out');
  assert.equal(state({ replaced: true }), 'stood-down');
  assert.equal(state({ hold: 'upload-budget' }), 'upload-paused');
  assert.equal(state({ hold: 'not-now' }), 'hidden-paused');
  assert.equal(state({ hold: 'up-to-date' }), 'up-to-date');
});

test('a spent privacy budget wins over everything: training has ended, not "taking part"', () => {
  const s = describeModelStatus({ ...base, privacySpent: true, training: true });
  assert.equal(s.state, 'privacy-spent');
  assert.match(s.text, /privacy budget is spent/);
  assert.equal(state({ privacySpent: true, participating: false }), 'privacy-spent');
});

test('the sentences say what to do or how many are online', () => {
  assert.match(describeModelStatus({ ...base, interactions: 0, minInteractions: 2 }).text, /Like 2 more items/);
  assert.match(describeModelStatus({ ...base, interactions: 1, minInteractions: 2 }).text, /Like 1 more item to/);
  assert.match(describeModelStatus({ ...base, version: 0, peopleOnline: 2 }).text, /2 people online/);
  assert.match(describeModelStatus({ ...base, peopleOnline: 1 }).text, /nobody else is online/);
  assert.match(describeModelStatus(base).text, /version 3/);
});
