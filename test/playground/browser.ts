import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Debian's chromium, headless, in a fresh profile, with everything that would reach the network on
 * its own turned off. Missing chromium is an error, not a skip: these tests are the page's only check.
 */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install it with 'apt-get update && apt-get install -y chromium' (the playground browser tests need it)`);
  }
  const userDataDir = mkdtempSync(join(tmpdir(), 'pickban-chromium-'));
  // launchPersistentContext is playwright's way to pass --user-data-dir: a fresh folder per run.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
