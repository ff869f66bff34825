import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { projectPath } from '../../src/paths.ts';

/** Debian's Chromium (`apt-get install chromium`), as .ci/run installs it; CHROMIUM_PATH overrides. */
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A host name that is not localhost, resolved by Chromium alone to this machine (no /etc/hosts entry). */
export const OTHER_HOST = 'care360.test';

/**
 * Headless Chromium with a fresh profile (Playwright's own temporary one) and the machine's flags: no network
 * of its own, and OTHER_HOST mapped to 127.0.0.1 so pages can be opened under a name that is not localhost.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--host-resolver-rules=MAP ${OTHER_HOST} 127.0.0.1`,
    ],
  });
}

/**
 * A page in a context of its own. Its waits allow 90 s: the first render of the reference's bundle takes several
 * seconds on a 2-core machine, and much longer while other work loads it; no test here measures speed.
 */
export async function newPage(browser: Browser, viewport: { width: number; height: number }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(90_000);
  return context.newPage();
}

/** Where screenshots go (gitignored). */
export async function screenshot(page: Page, name: string): Promise<void> {
  const directory = projectPath('test-results');
  await mkdir(directory, { recursive: true });
  await page.screenshot({ path: path.join(directory, `${name}.png`), fullPage: false });
}

/** Records what a page fetched from other origins and what it logged as errors (CSP refusals among them). */
export function watchPage(page: Page, origin: string): { external: string[]; errors: string[] } {
  const seen = { external: [] as string[], errors: [] as string[] };
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith('data:') && !url.startsWith('blob:')) seen.external.push(url);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') seen.errors.push(message.text());
  });
  page.on('pageerror', (error) => seen.errors.push(error.message));
  return seen;
}
