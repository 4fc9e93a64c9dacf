import assert from 'node:assert/strict';
import { DIST_DIR } from './build.ts';
import { findLikedIds, type LikedIdFinding } from './liked-id-search.ts';
import { classifySentTraffic, type AllowListOptions, type Violation } from './sent-traffic-allow-list.ts';
import type { TrafficRecord } from './traffic-capture.ts';

export interface PrivacyCheckOptions extends Omit<AllowListOptions, 'staticDir'> {
  /** Ids of the items the page's person liked or rated (any order). */
  readonly liked: readonly number[];
  /** Label for messages, e.g. 'page 0'. */
  readonly page: string;
  /** The built app (default dist/): its files are the static assets a page may GET. */
  readonly staticDir?: string;
  /** Whether the page must have sent WebSocket frames (default true; false for a tab that follows another and opens no socket). */
  readonly expectSocket?: boolean;
}

export interface PrivacyReport {
  /** Layer 1: requests and frames not on the allow-list (sent-traffic-allow-list.ts). */
  readonly violations: Violation[];
  /** Layer 2: liked ids found in some encoding (liked-id-search.ts). */
  readonly findings: LikedIdFinding[];
}

/** Both layers, without asserting: for tests that check each layer on its own. */
export function checkSentTraffic(traffic: TrafficRecord, opts: PrivacyCheckOptions): PrivacyReport {
  return {
    violations: classifySentTraffic(traffic, { ...opts, staticDir: opts.staticDir ?? DIST_DIR }),
    findings: findLikedIds(traffic, opts.liked),
  };
}

const MAX_LISTED = 12;

/** The assertion message for a report; '' when it passes. */
export function describePrivacyReport(page: string, r: PrivacyReport): string {
  if (r.violations.length === 0 && r.findings.length === 0) return '';
  const lines = [`${page}: ${r.violations.length} request(s)/frame(s) not on the allow-list, liked ids found ${r.findings.length} time(s)`];
  for (const v of r.violations.slice(0, MAX_LISTED)) lines.push(`  not allowed: ${v.where}: ${v.why}${v.sent ? ` — sent ${v.sent}` : ''}`);
  if (r.violations.length > MAX_LISTED) lines.push(`  … and ${r.violations.length - MAX_LISTED} more not allowed`);
  for (const f of r.findings.slice(0, MAX_LISTED)) lines.push(`  liked ids ${f.ids.join(',')} as ${f.encoding} in ${f.where}`);
  if (r.findings.length > MAX_LISTED) lines.push(`  … and ${r.findings.length - MAX_LISTED} more findings`);
  return lines.join('\n');
}

/**
 * The e2e privacy check: fails unless everything the page sent is on the allow-list
 * (sent-traffic-allow-list.ts: known GETs, the credential POST, socket.io packets
 * parsed field by field with the protocol's strict schemas, and binary frames only as
 * decodable model updates) AND no run of the liked ids appears in any of the encodings
 * liked-id-search.ts knows (defence in depth). The update is the one channel that
 * carries what the person touched, by design (README "What an update reveals"): it is
 * allowed only as a well-formed update. Fails too if the capture saw nothing sent.
 */
export function assertOnlyAllowedTrafficSent(traffic: TrafficRecord, opts: PrivacyCheckOptions): void {
  assert.ok(traffic.frames.length + traffic.requests.length > 0, `${opts.page}: capture saw nothing sent, the privacy check would be vacuous`);
  if (opts.expectSocket ?? true) assert.ok(traffic.frames.length > 0, `${opts.page}: the page sent no WebSocket frame: it never joined, so the privacy check proves little`);
  const message = describePrivacyReport(opts.page, checkSentTraffic(traffic, opts));
  assert.ok(message === '', message);
}
