import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes } from './format-bytes.ts';

test('byte counts read as people read them', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(812), '812 B');
  assert.equal(formatBytes(136420), '133 KB');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(10 * 1024), '10 KB');
  assert.equal(formatBytes(3005 * 1024), '2.93 MB');
  assert.equal(formatBytes(250 * 1024 * 1024), '250 MB');
  assert.equal(formatBytes(-1), '–');
  assert.equal(formatBytes(NaN), '–');
});
