// A real browser against the example servers: Debian's Chromium, headless, driven by playwright-core,
// opens src/browser/page.html from a static server of this file's own, on another origin (port)
// than the API servers, as a web app would be. The page (src/browser/page.ts, compiled by
// tsconfig.browser.json) watches a shelf with the browser's EventSource, on WatchShelf's REST
// binding and on /sse/, and holds a chat Converse over the WebSocket with the generated ApigenSocket.
// The test changes the shelf and posts to the room from Node, makes the page send a message
// itself, and reads what arrived from the page's DOM.
//
// Needs Chromium at /usr/bin/chromium (Debian's `chromium` package) or at $CHROMIUM; playwright-core
// downloads no browser. On a failure, a screenshot of the page is left in a temporary directory
// that the error names.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import type { Browser, Page } from "playwright-core";

import type { Book, Shelf } from "../../../generated-examples/bookstore/src/api/ts/index.js";
import type { ChatMessage } from "../../../generated-examples/chat/src/api/ts/index.js";
import { explain, unique, WAIT_MS, within } from "./support/async.js";
import { launchChromium } from "./support/chromium.js";
import { REPO, startServer, type Server } from "./support/servers.js";
import {
  assertBuilt,
  callJson,
  dataOf as dataOn,
  serveSite,
  type Site,
  waitForData as waitForDataOn,
  waitForItems as waitForItemsOn,
} from "./support/site.js";

const PAGE_HTML = join(REPO, "tests", "node", "src", "browser", "page.html");
const PAGE_SCRIPT = "/tests/node/src/browser/page.js";

let bookstore: Server;
let chat: Server;
let site: Site;
let browser: Browser;
let page: Page;
let shots: string;
let failed = false;
/** What the page logged, threw or failed to load, for failure messages. */
const pageLog: string[] = [];

const dataOf = (id: string) => dataOn(page, id);
const waitForItems = (id: string, n: number, what: string) => waitForItemsOn(page, id, n, what);
const waitForData = (id: string, key: string, value: string, what: string) => waitForDataOn(page, id, key, value, what);

/**
 * Runs `body`; when it fails, saves a screenshot of the page as `<shots>/<name>.png` and fails with
 * the page's errors and log and the servers' output (the original error is the cause).
 */
async function onPage(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    failed = true;
    let screenshot: string;
    try {
      const path = join(shots, `${name}.png`);
      await page.screenshot({ path, fullPage: true, timeout: WAIT_MS });
      screenshot = `a screenshot of the page is in ${path}`;
    } catch (shotError) {
      screenshot = `no screenshot: ${explain(shotError)}`;
    }
    const errors = await page
      ?.locator("#errors")
      .innerText({ timeout: 1_000 })
      .catch((e: unknown) => `(unreadable: ${explain(e)})`);
    throw new Error(
      [
        // The first line; the whole error is the cause, printed below.
        explain(err).split("\n")[0],
        screenshot,
        `the page's #errors: ${errors || "(none)"}`,
        `the page's log:\n${pageLog.join("\n") || "(empty)"}`,
        bookstore?.output() ?? "",
        chat?.output() ?? "",
      ].join("\n"),
      { cause: err },
    );
  }
}

before(async () => {
  assertBuilt(PAGE_SCRIPT);
  shots = mkdtempSync(join(tmpdir(), "apigen-browser-"));
  [bookstore, chat, site] = await Promise.all([startServer("bookstore-example"), startServer("chat-example"), serveSite(PAGE_HTML)]);
  browser = await launchChromium();
  page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on("console", (message) => pageLog.push(`console.${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => pageLog.push(`uncaught: ${explain(error)}`));
  page.on("requestfailed", (request) =>
    pageLog.push(`request failed: ${request.method()} ${request.url()}: ${request.failure()?.errorText}`),
  );
});

after(async () => {
  const stops: Array<Promise<unknown>> = [];
  // The browser first, so that its EventSources and WebSocket are gone before the servers stop.
  await browser?.close().catch((err: unknown) => stops.push(Promise.reject(err)));
  if (site) stops.push(site.close());
  stops.push(bookstore?.stop() ?? Promise.resolve(), chat?.stop() ?? Promise.resolve());
  const results = await Promise.allSettled(stops);
  if (shots && !failed) rmSync(shots, { recursive: true, force: true });
  const errors = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
  if (errors.length > 0) throw new AggregateError(errors, `stopping the browser and servers: ${errors.map(explain).join("; ")}`);
});

interface SseRequest {
  url: string;
  lastEventId: string | null;
  status: number;
}
const byUrlAndStatus = (a: SseRequest, b: SseRequest) => a.url.localeCompare(b.url) || a.status - b.status;

// The tests run in order on one page: the last one ends the streams the first one watches.
describe("Chromium: a page on another origin with EventSource on WatchShelf and WebSocket on Converse", { timeout: 90_000 }, () => {
  let shelf: Shelf;
  const room = `rooms/${unique()}`;
  const author = "page";
  const firstText = "hello from the page";
  /** Every request the page's EventSources made: the first connections and the reconnects. */
  const sseRequests: SseRequest[] = [];
  /** The first `n` of them (waiting for Playwright to report them), by URL and status. */
  const sseRequestsAfter = async (n: number) => {
    await within(
      (async () => {
        while (sseRequests.length < n) await new Promise((resolve) => setTimeout(resolve, 20));
      })(),
      () => `${n} EventSource requests (got ${JSON.stringify(sseRequests)})`,
    );
    return [...sseRequests].sort(byUrlAndStatus);
  };

  before(async () => {
    shelf = await callJson<Shelf>(bookstore.url, "POST", "/v1/shelves", { theme: unique("browser-") });
    page.on("response", async (response) => {
      const request = response.request();
      if (request.resourceType() !== "eventsource") return;
      const lastEventId = await request.headerValue("last-event-id").catch(() => null);
      sseRequests.push({ url: request.url(), lastEventId, status: response.status() });
    });
    const address = new URL(site.url);
    address.search = new URLSearchParams({
      bookstore: bookstore.url,
      shelf: shelf.name!,
      chat: chat.url,
      room,
      author,
      text: firstText,
    }).toString();
    await onPage("open", async () => {
      await page.goto(address.href, { timeout: WAIT_MS });
      await page.waitForSelector('body[data-ready="true"]', { state: "attached", timeout: WAIT_MS });
    });
  });

  test("both EventSources list the books created from Node (REST and Connect), in order, with SSE ids", async () => {
    await onPage("watch", async () => {
      const books = [
        await callJson<Book>(bookstore.url, "POST", `/v1/${shelf.name}/books`, { title: "The Dispossessed" }),
        await callJson<Book>(bookstore.url, "POST", "/bookstore.v1.Bookstore/CreateBook", {
          parent: shelf.name,
          book: { title: "Always Coming Home" },
        }),
      ];
      const expected = books.map((book, i) => ({ id: String(i + 1), kind: "KIND_BOOK_ADDED", book: book.name, title: book.title }));
      for (const list of ["watch-rest", "watch-sse"]) {
        assert.deepEqual(await waitForItems(list, 2, "the KIND_BOOK_ADDED events"), expected, `#${list}`);
        const { state, opens } = await dataOf(list);
        assert.deepEqual({ state, opens }, { state: "open", opens: "1" }, `#${list} is still on its first connection`);
      }
      assert.deepEqual(
        (await sseRequestsAfter(2)).map((r) => r.status),
        [200, 200],
        "one request per EventSource so far",
      );
    });
  });

  test("Converse over the generated ApigenSocket: the room's messages, Node's and the page's own, in sequence", async () => {
    await onPage("converse", async () => {
      const post = async (text: string, sequence: string) => {
        const posted = await callJson<ChatMessage>(chat.url, "POST", `/v1/${room}/messages`, { author: "node", text });
        assert.equal(posted.sequence, sequence, `PostMessage's answer: ${JSON.stringify(posted)}`);
      };
      const say = async (text: string) => {
        await page.locator("#text").fill(text);
        await page.locator("#say button").click();
      };
      // The first request, sent when the call opened, names the room; its message comes back once
      // the server has subscribed the conversation.
      await waitForItems("chat", 1, "the page's first message");
      await post("hello from Node", "2");
      await waitForItems("chat", 2, "Node's message");
      await say("sent with send()");
      await waitForItems("chat", 3, "the message the page sent on the call");
      await post("goodbye from Node", "4");
      const messages = await waitForItems("chat", 4, "Node's second message");
      assert.deepEqual(
        messages.map(({ sequence, room, author, text }) => ({ sequence, room, author, text })),
        [
          { sequence: "1", room, author, text: firstText },
          { sequence: "2", room, author: "node", text: "hello from Node" },
          { sequence: "3", room, author, text: "sent with send()" },
          { sequence: "4", room, author: "node", text: "goodbye from Node" },
        ],
      );
      for (const { name } of messages) assert.ok(name?.startsWith(`${room}/messages/`), `a message name in the room: ${name}`);
      const chatData = await dataOf("chat");
      assert.equal(chatData.closed, undefined, "the socket is still open");
      assert.equal(chatData.complete, undefined, "the call is still running");
    });
  });

  test("a deleted shelf's streams end with `end`; the browser's reconnect with Last-Event-ID: end gets 204 and stops", async () => {
    await onPage("end", async () => {
      const books = await waitForItems("watch-rest", 2, "the books of the first test");
      await callJson<unknown>(bookstore.url, "DELETE", `/v1/${shelf.name}?force=true`);
      for (const list of ["watch-rest", "watch-sse"]) {
        const events = await waitForItems(list, 4, "the KIND_BOOK_REMOVED events");
        const removed = events.slice(2);
        assert.deepEqual(
          removed.map(({ id, kind }) => ({ id, kind })),
          [
            { id: "3", kind: "KIND_BOOK_REMOVED" },
            { id: "4", kind: "KIND_BOOK_REMOVED" },
          ],
          `#${list}: the ids go on`,
        );
        assert.deepEqual(removed.map((e) => e.book).sort(), books.map((e) => e.book).sort(), `#${list}: both books removed`);
        await waitForData(list, "endId", "end", "the `end` event");
        assert.equal((await dataOf(list)).end, "{}", `#${list}: the stream ended without an error`);
      }
      // The server's `retry: 3000` makes the browser wait 3 s before it reconnects.
      for (const list of ["watch-rest", "watch-sse"]) {
        await waitForData(list, "state", "closed", "the EventSource closed after its reconnect");
        assert.equal((await dataOf(list)).opens, "1", `#${list} never opened again`);
      }
      const rest = `${bookstore.url}/v1/${shelf.name}:watch`;
      const sse = `${bookstore.url}/sse/bookstore.v1.Bookstore/WatchShelf?${new URLSearchParams({ name: shelf.name! })}`;
      const expected = [
        { url: rest, lastEventId: null, status: 200 },
        { url: rest, lastEventId: "end", status: 204 },
        { url: sse, lastEventId: null, status: 200 },
        { url: sse, lastEventId: "end", status: 204 },
      ];
      assert.deepEqual(await sseRequestsAfter(expected.length), expected.sort(byUrlAndStatus));
    });
  });
});
