// Launching the browser for the e2e test and the bench: Debian's chromium (no browser download),
// headless, with a fresh profile and the flags that keep it from reaching out or stalling on
// this kind of machine (no sandbox as root, no GPU, no background networking or updates).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** The chromium binary: BACKPROP_CHROMIUM, else Debian's. */
export const CHROMIUM = process.env.BACKPROP_CHROMIUM || '/usr/bin/chromium';

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * Starts chromium with a fresh --user-data-dir (BACKPROP_E2E_PROFILE's parent, or the system's
 * temporary directory) and returns {context, close}; close() also deletes the profile.
 */
export async function launch() {
  const parent = process.env.BACKPROP_E2E_PROFILE || tmpdir();
  const profile = mkdtempSync(join(parent, 'backprop-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The page's epoch counter as a number ("000,123" -> 123). */
export async function shownEpoch(page) {
  const text = await page.locator('#epoch').textContent();
  return Number(text.replace(/,/g, ''));
}

/** Waits until `predicate()` (async) is true, polling; fails after `ms` with `what`. */
export async function waitFor(what, predicate, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
