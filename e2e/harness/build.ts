import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './coordinator-process.ts';

/** dist/, or FLOCK_DIST (absolute, or relative to the repository root) for a build of its own. */
export const DIST_DIR = process.env.FLOCK_DIST ? path.resolve(REPO_ROOT, process.env.FLOCK_DIST) : path.join(REPO_ROOT, 'dist');
/** The built pages: the app, the privacy explanation it links to, the diagnostics lab. */
const PAGES = ['index.html', 'privacy.html', 'lab.html'];

/**
 * Makes sure dist/ holds the built web app (its PAGES). `npm run test:e2e`
 * builds first; a test run on its own builds only when dist/ is missing, or always
 * with FLOCK_E2E_BUILD=1.
 */
export async function ensureBuilt(): Promise<string> {
  const built = PAGES.every((p) => existsSync(path.join(DIST_DIR, p)));
  if (!built || process.env.FLOCK_E2E_BUILD === '1') {
    try {
      await promisify(execFile)('npx', ['vite', 'build'], { cwd: REPO_ROOT, env: { ...process.env, FLOCK_DIST: DIST_DIR }, maxBuffer: 64 << 20, timeout: 300_000 });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`'npx vite build' failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    }
  }
  for (const page of PAGES) {
    if (!existsSync(path.join(DIST_DIR, page))) throw new Error(`dist/${page} missing after 'npx vite build'`);
  }
  return DIST_DIR;
}
