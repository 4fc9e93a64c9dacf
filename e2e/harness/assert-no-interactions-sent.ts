import assert from 'node:assert/strict';
import type { TrafficCapture } from './traffic-capture.ts';

/**
 * Fails if anything a page sent could carry its person's interactions: no URL, body or
 * frame may hold an interaction record (field names "rating"/"timestamp"/"interactions",
 * also searched in binary payloads decoded as latin1), the first liked ids as consecutive
 * int32 in a binary payload, the first liked ids as a run of numbers in text, or a
 * JSON-like integer list holding three or more liked ids. `liked` is in click order.
 * Also fails if the capture saw nothing sent (the check would be vacuous).
 */
export function assertNoInteractionsSent(traffic: TrafficCapture, liked: readonly number[], page: string): void {
  const posts = traffic.requests.filter((r) => r.method !== 'GET').length;
  assert.ok(traffic.frames.length + posts > 0, `${page}: capture saw nothing sent, the privacy check would be vacuous`);
  const likedSet = new Set(liked);
  const head = liked.slice(0, 3);
  for (const { where, text, binary } of traffic.texts()) {
    for (const needle of ['"rating"', '"timestamp"', '"interactions"']) {
      assert.ok(!text.includes(needle), `${page}: ${where} contains ${needle}: ${text.slice(0, 300)}`);
    }
    if (binary) {
      const raw = Buffer.from(text, 'latin1');
      const ids = Buffer.alloc(4 * head.length);
      head.forEach((id, i) => ids.writeInt32LE(id, i * 4));
      assert.ok(raw.indexOf(ids) < 0, `${page}: ${where} contains the liked ids ${head.join(',')} as int32`);
      continue;
    }
    const run = new RegExp(`(?<![\\d.])${head.join('\\s*,\\s*')}(?![\\d.])`);
    assert.ok(!run.test(text), `${page}: ${where} contains the liked ids ${head.join(',')}…: ${text.slice(0, 300)}`);
    for (const m of text.matchAll(/\[\s*-?\d+(?:\s*,\s*-?\d+)+\s*\]/g)) {
      const ids = m[0].slice(1, -1).split(',').map((s) => Number(s.trim()));
      const hits = ids.filter((id) => likedSet.has(id)).length;
      assert.ok(hits < 3, `${page}: ${where} carries an id list with ${hits} liked items: ${m[0].slice(0, 200)}`);
    }
  }
}
