// Debian's Chromium for the browser tests, driven by playwright-core (which downloads no browser).

import { existsSync } from "node:fs";

import { chromium, type Browser } from "playwright-core";

/** The executable: Debian's `chromium` package, or $CHROMIUM. */
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/** The machine's network is closed: these keep Chromium from trying to reach Google's services. */
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A headless Chromium; fails saying what to install when there is none. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium), or set $CHROMIUM to a Chromium executable`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30_000 });
}
