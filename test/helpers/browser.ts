/**
 * Real Chromium for tests: Debian's `chromium` driven by playwright-core (no
 * browser download). Without the binary the browser tests fail under `CI=true`
 * and are skipped loudly otherwise. A failing step saves a screenshot under
 * `test-results/browser/` (gitignored).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../test-results/browser/', import.meta.url));

/** Why the browser tests cannot run here, or `undefined` when they can. Throws under CI. */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const why = `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the browser tests`;
  if (process.env.CI === 'true') throw new Error(why);
  process.stderr.write(`\n*** SKIPPING browser tests: ${why} ***\n\n`);
  return why;
}

/** Launches headless Chromium the way this machine needs it (no network chatter, fresh profile). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/** Runs `fn`; when it throws, saves a screenshot of each page (`<name>-<i>.png`) and rethrows. */
export async function withScreenshots<T>(name: string, pages: () => readonly Page[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    await mkdir(SHOTS, { recursive: true });
    const safe = name.replace(/[^\w.-]+/g, '-').slice(0, 80);
    let i = 0;
    for (const page of pages()) {
      const path = `${SHOTS}${safe}-${i++}.png`;
      await page.screenshot({ path, fullPage: true, timeout: 10_000 }).then(
        () => process.stderr.write(`screenshot: ${path}\n`),
        () => undefined,
      );
    }
    throw err;
  }
}
