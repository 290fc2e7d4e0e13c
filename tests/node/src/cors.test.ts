// CORS allow-list (`--cors-origin`) in a real browser: Debian's Chromium, headless, opens a blank page
// from two origins of this file's own (two ports), one on the bookstore server's list and one not,
// and from each calls REST (with `authorization`, so with a preflight), Connect, GraphQL, an
// EventSource and a WebSocket. From the listed origin everything works; from the other the browser
// blocks every call (the server leaves out `access-control-allow-origin`) and the server refuses
// the WebSocket upgrade itself, as browsers apply no CORS to WebSockets.

import assert from "node:assert/strict";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";

import type { Browser } from "playwright-core";

import { launchChromium } from "./support/chromium.js";
import { startServer, type Server } from "./support/servers.js";

/** A site serving one blank page at /, on a loopback port: one web origin. */
async function serveBlank(): Promise<{ url: string; server: HttpServer }> {
  const server = createServer((_, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end("<!doctype html><title>origin</title>");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

let allowed: { url: string; server: HttpServer };
let refused: { url: string; server: HttpServer };
let bookstore: Server;
let browser: Browser;
let shelf: string;

before(async () => {
  [allowed, refused] = await Promise.all([serveBlank(), serveBlank()]);
  bookstore = await startServer("bookstore-example", "--cors-origin", allowed.url, "--cors-origin", "https://*.example.test");
  const created = await fetch(`${bookstore.url}/v1/shelves`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ theme: "CORS" }),
  });
  shelf = ((await created.json()) as { name: string }).name;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const site of [allowed, refused]) {
    site?.server.closeAllConnections();
    site?.server.close();
  }
  await bookstore?.stop();
});

/** Every protocol's call from a page on `origin`, each as "status N", "open" or "blocked". */
async function callsFrom(origin: string): Promise<Record<string, string>> {
  const page = await browser.newPage();
  try {
    await page.goto(origin);
    return await page.evaluate(
      async ({ api, shelf }) => {
        const status = (p: Promise<Response>) => p.then((r) => `status ${r.status}`, () => "blocked");
        const opened = (make: (done: (outcome: string) => void) => void) =>
          new Promise<string>((resolve) => {
            const timer = setTimeout(() => resolve("timed out"), 5_000);
            make((outcome) => {
              clearTimeout(timer);
              resolve(outcome);
            });
          });
        const json = { "content-type": "application/json" };
        return {
          rest: await status(fetch(`${api}/v1/${shelf}`, { headers: { authorization: "Bearer anything" } })),
          connect: await status(
            fetch(`${api}/bookstore.v1.Bookstore/GetShelf`, {
              method: "POST",
              headers: { ...json, "connect-protocol-version": "1" },
              body: JSON.stringify({ name: shelf }),
            }),
          ),
          graphql: await status(
            fetch(`${api}/graphql`, { method: "POST", headers: json, body: JSON.stringify({ query: "{ __typename }" }) }),
          ),
          sse: await opened((done) => {
            const source = new EventSource(`${api}/sse/bookstore.v1.Bookstore/WatchShelf?name=${encodeURIComponent(shelf)}`);
            source.onopen = () => (source.close(), done("open"));
            source.onerror = () => (source.close(), done("blocked"));
          }),
          ws: await opened((done) => {
            const socket = new WebSocket(`${api.replace("http", "ws")}/ws`, "apigen.v1");
            socket.onopen = () => (socket.close(), done("open"));
            socket.onerror = () => done("blocked");
          }),
        };
      },
      { api: bookstore.url, shelf },
    );
  } finally {
    await page.close();
  }
}

describe("Chromium: CORS with an allow-list", { timeout: 90_000 }, () => {
  test("a page on a listed origin calls every protocol", async () => {
    assert.deepEqual(await callsFrom(allowed.url), {
      rest: "status 200",
      connect: "status 200",
      graphql: "status 200",
      sse: "open",
      ws: "open",
    });
  });

  test("a page on another origin is blocked on every protocol", async () => {
    assert.deepEqual(await callsFrom(refused.url), {
      rest: "blocked",
      connect: "blocked",
      graphql: "blocked",
      sse: "blocked",
      ws: "blocked",
    });
  });

  test("preflights name the methods and headers, and patterns match subdomains", async () => {
    const preflight = async (origin: string) =>
      fetch(`${bookstore.url}/v1/${shelf}`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
      });
    const listed = await preflight("https://app.example.test");
    assert.equal(listed.headers.get("access-control-allow-origin"), "https://app.example.test");
    const headers = listed.headers.get("access-control-allow-headers") ?? "";
    assert.match(headers, /authorization/);
    assert.doesNotMatch(headers, /\*/);
    assert.doesNotMatch(listed.headers.get("access-control-allow-methods") ?? "*", /\*/);
    const other = await preflight("https://example.test.evil.test");
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  });
});
