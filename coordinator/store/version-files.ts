/**
 * Names and checksum files of one checkpoint version under a model's data dir:
 *
 *   versions/v000123.flkw          the global weights of version 123
 *   versions/v000123.server.flkw   the server optimizer's state after it (optional)
 *   versions/v000123.privacy.json  the privacy spent up to and including it, under
 *                                  differential privacy (privacy-record.ts; optional)
 *   versions/v000123.sha256        sha256 of each of them, in `sha256sum` format, written
 *                                  after them and before the manifest names the version
 *
 * The weights codec (tensor-codec.ts) has no checksum of its own: a flipped byte in a
 * float payload still decodes. The manifest records each file's sha256, and the
 * .sha256 file repeats it beside the data, so a manifest rebuilt from the files alone
 * still detects damaged bytes (`cd versions && sha256sum -c v000123.sha256` checks
 * one by hand). Anything else whose name starts with `v<digits>.` (a file moved aside,
 * a leftover .tmp) still counts as a used version number: numbers are never reused.
 */
import { createHash } from 'node:crypto';

export type VersionFileRole = 'weights' | 'server' | 'privacy' | 'checksums';

const base = (v: number): string => `v${String(v).padStart(6, '0')}`;
export const versionFile = (v: number): string => `versions/${base(v)}.flkw`;
export const serverStateFile = (v: number): string => `versions/${base(v)}.server.flkw`;
export const privacyFile = (v: number): string => `versions/${base(v)}.privacy.json`;
export const checksumFile = (v: number): string => `versions/${base(v)}.sha256`;

const ROLE_BY_SUFFIX: Record<string, VersionFileRole> = { flkw: 'weights', 'server.flkw': 'server', 'privacy.json': 'privacy', sha256: 'checksums' };

/**
 * The version number a file name in versions/ belongs to, and its role when it is one
 * of the live files (absent for anything else: moved aside, temporary, unknown).
 */
export function parseVersionFileName(name: string): { version: number; role?: VersionFileRole } | undefined {
  const m = /^v(\d+)\.(.+)$/.exec(name);
  if (!m) return undefined;
  const version = Number(m[1]);
  if (!Number.isSafeInteger(version)) return undefined;
  const role = ROLE_BY_SUFFIX[m[2]];
  // Only the canonical spelling is live: "v123.flkw" is not "v000123.flkw".
  const canonical = role !== undefined && `${base(version)}.${m[2]}` === name;
  return canonical ? { version, role } : { version };
}

export const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** `sha256sum` lines for files of one version (names relative to versions/). */
export function formatChecksums(files: { name: string; sha256: string }[]): string {
  return files.map((f) => `${f.sha256}  ${f.name}\n`).join('');
}

/** The checksums a .sha256 file lists, by file name; undefined when it is not in that format. */
export function parseChecksums(text: string): Map<string, string> | undefined {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) [ *](\S+)$/.exec(line);
    if (!m) return undefined;
    out.set(m[2], m[1]);
  }
  return out.size > 0 ? out : undefined;
}
