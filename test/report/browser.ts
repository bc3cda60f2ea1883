// Headless Debian chromium for tests that check what a reader's browser shows. The report tests
// depend on it: a missing browser fails them with the fix rather than skipping them.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh does) to run the report tests`,
    );
  }
  // Tests run as root in containers, where chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/**
 * Opens a local file in a fresh page and hands the page and every URL it requested to `use`;
 * the browser is closed afterwards whatever happens.
 */
export async function withFilePage<T>(path: string, use: (page: Page, requests: string[]) => Promise<T>): Promise<T> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(path).href, { waitUntil: 'load' });
    return await use(page, requests);
  } finally {
    await browser.close();
  }
}
