// What the browser tests share: a static site serving one HTML page and the compiled browser
// modules, a JSON caller for Node's side of a test, and readers of the page's DOM that wait with
// a limit and say what they saw when it runs out.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import { join, normalize, sep } from "node:path";

import type { Page } from "playwright-core";

import { WAIT_MS, within } from "./async.js";
import { listenOnLoopback, REPO } from "./servers.js";

/** What tsconfig.browser.json compiles: the site's root, which the pages' scripts are under. */
export const SITE = join(REPO, "tests", "node", "dist", "browser");

export interface Site {
  url: string;
  server: HttpServer;
  /** Stops serving, dropping open connections. */
  close(): Promise<void>;
}

/** Serves `html` at / and the compiled modules under SITE (only .js and .js.map files). */
export async function serveSite(html: string): Promise<Site> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    const send = (status: number, type: string, body: string | Buffer) => {
      response.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      response.end(body);
    };
    if (request.method !== "GET") return send(405, "text/plain", "GET only\n");
    if (path === "/") return send(200, "text/html; charset=utf-8", readFileSync(html));
    const file = normalize(join(SITE, decodeURIComponent(path)));
    if (!file.startsWith(SITE + sep) || !/\.js(\.map)?$/.test(file) || !existsSync(file)) {
      return send(404, "text/plain", `no ${path} here\n`);
    }
    send(200, file.endsWith(".js") ? "text/javascript; charset=utf-8" : "application/json", readFileSync(file));
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** Fails, saying to build it, when a page's compiled script is missing. */
export function assertBuilt(script: string): void {
  if (!existsSync(join(SITE, script))) {
    throw new Error(`${join(SITE, script)} is missing: run tests/node/run.sh (it compiles tsconfig.browser.json)`);
  }
}

/** Calls a REST or Connect (JSON) endpoint from Node and returns its JSON answer. */
export async function callJson<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const what = `${method} ${base}${path}`;
  const response = await within(
    fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    what,
  );
  const text = await within(response.text(), `the body of ${what}`);
  assert.equal(response.status, 200, `${what} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** The data-* attributes of the <li>s of the page's list #id. */
export async function listed(page: Page, id: string): Promise<Record<string, string>[]> {
  return page
    .locator(`#${id} > li`)
    .evaluateAll((items) => items.map((item) => ({ ...(item as HTMLElement).dataset }) as Record<string, string>));
}

/** The data-* attributes of the page's element #id (`body` for the body). */
export async function dataOf(page: Page, id: string): Promise<Record<string, string>> {
  const selector = id === "body" ? "body" : `#${id}`;
  return page.locator(selector).evaluate((element) => ({ ...(element as HTMLElement).dataset }) as Record<string, string>);
}

/** Waits (with a limit) until the list #id has at least `n` items; returns them all. */
export async function waitForItems(page: Page, id: string, n: number, what: string): Promise<Record<string, string>[]> {
  try {
    await page.waitForFunction(([id, n]) => document.querySelectorAll(`#${id} > li`).length >= n, [id, n] as const, {
      timeout: WAIT_MS,
    });
  } catch (err) {
    throw new Error(`${what}: #${id} did not list ${n} items within ${WAIT_MS} ms: ${JSON.stringify(await listed(page, id))}`, {
      cause: err,
    });
  }
  return listed(page, id);
}

/** Waits (with a limit) until the page's element #id (or `body`) has data-`key`="value". */
export async function waitForData(page: Page, id: string, key: string, value: string, what: string): Promise<void> {
  try {
    await page.waitForFunction(
      ([id, key, value]) => (id === "body" ? document.body : document.getElementById(id))?.dataset[key] === value,
      [id, key, value] as const,
      { timeout: WAIT_MS },
    );
  } catch (err) {
    throw new Error(
      `${what}: #${id} has not data-${key}="${value}" after ${WAIT_MS} ms: ${JSON.stringify(await dataOf(page, id))}`,
      { cause: err },
    );
  }
}
