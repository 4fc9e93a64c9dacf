import { chromium, type Browser } from 'playwright-core';

/** Debian Chromium; `npx playwright install` cannot download here. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Flags measured on this machine (see DESIGN.md "Facts about this machine"):
 * `--enable-unsafe-webgpu` is what exposes WebGPU (SwiftShader) in headless mode.
 * Never pass `--disable-gpu`.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
];

export async function launchChromium(): Promise<Browser> {
  try {
    return await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
      timeout: 60_000,
    });
  } catch (err) {
    throw new Error(
      `could not launch Chromium at ${CHROMIUM_PATH} (install it with 'apt-get install chromium' ` +
        `or set CHROMIUM_PATH): ${(err as Error).message}`,
    );
  }
}

/** Collects a page's console messages and uncaught errors, for failure messages. */
export function collectConsole(page: import('playwright-core').Page, label = ''): string[] {
  const lines: string[] = [];
  page.on('console', (m) => lines.push(`${label}[console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`${label}[pageerror] ${e.message}`));
  return lines;
}
