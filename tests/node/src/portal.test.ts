// The developer portal (GET /) and GraphiQL in headless Chromium with every request that is not
// for the server on loopback refused: both render from the server's built-in assets, a unary call
// made from the page shows its response, a stream opened from the page over SSE and over the
// WebSocket shows the messages Node posts meanwhile, and after "Drop connection" it resumes after
// the last event id (Last-Event-ID for SSE, lastEventId for apigen.v1) with every message exactly
// once. axe-core finds no serious or critical accessibility violation on the pages.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";

import type { Browser, BrowserContext, Page } from "playwright-core";

import type { ChatMessage } from "../../../generated-examples/chat/src/api/ts/index.js";
import { unique } from "./support/async.js";
import { launchChromium } from "./support/chromium.js";
import { startServer, type Server } from "./support/servers.js";
import { callJson, listed, waitForItems } from "./support/site.js";

const axeSource: string = (createRequire(import.meta.url)("axe-core") as { source: string }).source;

let chat: Server;
let bookstore: Server;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Requests the page tried to make to anywhere but the servers. */
const refused: string[] = [];
const problems: string[] = [];
/** The hosts the page may reach: the servers under test. */
const allowed = new Set<string>();

async function post(room: string, text: string): Promise<ChatMessage> {
  return callJson<ChatMessage>(chat.url, "POST", `/v1/${room}/messages`, { author: "node", text });
}

/** Runs axe-core on the page; fails listing every serious or critical violation. */
async function assertAccessible(what: string): Promise<void> {
  await page.addScriptTag({ content: axeSource });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: unknown }[] }[] }> } }).axe;
    const result = await axe.run();
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target).slice(0, 3))}`);
  });
  assert.deepEqual(violations, [], `${what} has accessibility violations`);
}

/** The text of the page's element `selector` once `ok` holds for it (with a limit). */
async function waitForText(selector: string, ok: RegExp, what: string): Promise<string> {
  try {
    await page.waitForFunction(
      ([selector, source]) => new RegExp(source).test(document.querySelector(selector)?.textContent ?? ""),
      [selector, ok.source] as const,
      { timeout: 15_000 },
    );
  } catch (err) {
    throw new Error(`${what}: ${selector} never matched ${ok}; it says ${JSON.stringify(await page.textContent(selector))}`, {
      cause: err,
    });
  }
  return (await page.textContent(selector)) ?? "";
}

/** The events (not the notes) the page's stream listed, as their payloads' texts. */
async function streamed(): Promise<{ id: string; text: string }[]> {
  const items = await listed(page, "try-events");
  return items
    .filter((item) => item.kind === "event")
    .map((item) => ({ id: item.id ?? "", text: (JSON.parse(item.payload ?? "{}") as ChatMessage).text ?? "" }));
}

describe("the developer portal, offline", { concurrency: false }, () => {
  before(async () => {
    [chat, bookstore] = await Promise.all([startServer("chat-example"), startServer("bookstore-example")]);
    browser = await launchChromium();
    context = await browser.newContext();
    // Only the servers under test: a CDN, a font host or anything else is refused, and listed.
    allowed.add(new URL(chat.url).host).add(new URL(bookstore.url).host);
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (allowed.has(url.host)) return route.continue();
      refused.push(url.href);
      return route.abort("blockedbyclient");
    });
    page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (m) => {
      // The 404 and 401 the tests ask for are logged by the browser as failed loads.
      if (m.type() === "error" && !/status of (404|401)/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await Promise.all([chat?.stop(), bookstore?.stop()]);
  });

  test("the portal lists every method and its protocols, and is accessible", async () => {
    await page.goto(`${bookstore.url}/`);
    await page.waitForSelector("#methods a");
    const methods = await page.locator("#methods a").allTextContents();
    assert.ok(methods.some((m) => m.startsWith("GetBook")), `the methods: ${methods}`);
    assert.ok(methods.some((m) => m.startsWith("WatchShelf")), `the methods: ${methods}`);
    assert.doesNotMatch(await page.textContent("body") ?? "", /Loading/);
    await assertAccessible("the portal's home");

    await page.goto(`${bookstore.url}/#/method/bookstore.v1.Bookstore/GetBook`);
    await page.waitForSelector("#try-send");
    const examples = await page.locator(".example h4").allTextContents();
    for (const protocol of ["REST", "Connect", "gRPC", "GraphQL", "tRPC", "WebSocket"]) {
      assert.ok(examples.some((e) => e.startsWith(protocol)), `GetBook's examples: ${examples}`);
    }
    const code = (await page.locator(".example pre").allTextContents()).join("\n");
    assert.match(code, /curl '[^']*\/v1\/shelves\/1\/books\/1'/);
    assert.match(code, /query \{ getBook\(name: "shelves\/1\/books\/1"\) \{/);
    assert.match(code, /client\.bookstore\.getBook\.query\(\{"name":"shelves\/1\/books\/1"\}\)/);
    assert.match(code, /grpcurl -plaintext -d '\{"name":"shelves\/1\/books\/1"\}' [^ ]+ bookstore\.v1\.Bookstore\/GetBook/);
    // The request's schema shows what validation checks.
    await page.goto(`${bookstore.url}/#/type/bookstore.v1.Book`);
    await page.waitForSelector("table");
    assert.match(await page.textContent("table") ?? "", /bytes\.max_len = 65536/);
    await page.goto(`${bookstore.url}/#/method/bookstore.v1.Bookstore/GetBook`);
    await page.waitForSelector("#try-send");
    await assertAccessible("GetBook's page");
  });

  test("a unary call from the page shows the response over REST, Connect and GraphQL", async () => {
    const shelf = await callJson<{ name: string }>(bookstore.url, "POST", "/v1/shelves", { theme: "Portal" });
    const book = await callJson<{ name: string }>(bookstore.url, "POST", `/v1/${shelf.name}/books`, {
      title: "Made for the portal",
      authors: ["Node"],
    });
    await page.goto(`${bookstore.url}/#/method/bookstore.v1.Bookstore/GetBook`);
    await page.waitForSelector("#try-send");
    await page.fill("#try-request", JSON.stringify({ name: book.name }));
    for (const protocol of ["rest", "connect", "graphql"]) {
      await page.selectOption("#try-protocol", protocol);
      await page.evaluate(() => {
        document.getElementById("try-status")!.textContent = "";
        document.getElementById("try-body")!.textContent = "";
      });
      await page.click("#try-send");
      const status = await waitForText("#try-status", /^\d{3} /, `GetBook over ${protocol}`);
      assert.match(status, /^200 /, `GetBook over ${protocol}`);
      const body = (await page.textContent("#try-body")) ?? "";
      assert.match(body, /"Made for the portal"/, `GetBook over ${protocol}: ${body}`);
      assert.match((await page.textContent("#try-headers")) ?? "", /content-type: application\/json/);
    }
    // An error shows its status and body too.
    await page.selectOption("#try-protocol", "rest");
    await page.fill("#try-request", JSON.stringify({ name: `${shelf.name}/books/999999` }));
    await page.click("#try-send");
    assert.match(await waitForText("#try-status", /^\d{3} /, "a missing book"), /^404 /);
  });

  for (const [protocol, resumed] of [
    ["sse", /resumed with Last-Event-ID: \d+/],
    ["ws", /resubscribed with lastEventId: \d+/],
  ] as const) {
    test(`a stream opened from the page over ${protocol} shows posted messages and resumes after a drop`, async () => {
      const room = `rooms/${unique()}`;
      await page.goto(`${chat.url}/#/method/chat.v1.Chat/Subscribe`);
      await page.waitForSelector("#try-open");
      await page.fill("#try-request", JSON.stringify({ room }));
      await page.selectOption("#try-protocol", protocol);
      await page.click("#try-open");
      await waitForText("#try-status", /^Open/, `the ${protocol} stream`);
      await post(room, "one");
      await post(room, "two");
      await waitForItems(page, "try-events", 2, `two messages over ${protocol}`);

      await page.click("#try-drop");
      // Posted while the page is away: the resumed stream must bring them, once each.
      await post(room, "three");
      await post(room, "four");
      await waitForText("#try-events", resumed, `the ${protocol} stream's resume`);
      await post(room, "five");
      await page.waitForFunction(
        () => Array.from(document.querySelectorAll("#try-events > li")).some((li) => li.textContent?.includes('"five"')),
        undefined,
        { timeout: 15_000 },
      );
      const events = await streamed();
      assert.deepEqual(
        events.map((e) => e.text),
        ["one", "two", "three", "four", "five"],
        `every message once, in order: ${JSON.stringify(await listed(page, "try-events"))}`,
      );
      assert.ok(events.every((e) => /^\d+$/.test(e.id)), `each event has its id: ${JSON.stringify(events)}`);
      await page.click("#try-close");
      await assertAccessible(`Subscribe's page with a ${protocol} stream`);
    });
  }

  test("GraphiQL renders from built-in assets and runs a subscription over /graphql/ws", async () => {
    await page.goto(`${chat.url}/graphql`);
    // GET /graphql from a browser lands on the portal's GraphiQL.
    assert.equal(new URL(page.url()).pathname, "/docs/graphiql");
    await page.waitForSelector(".graphiql-container", { timeout: 15_000 });
    assert.doesNotMatch((await page.textContent("body")) ?? "", /Loading/);
    // The schema came from the server: the documentation explorer lists the root types.
    await page.click('[aria-label="Show Documentation Explorer"]');
    await page.waitForSelector(".graphiql-doc-explorer", { timeout: 15_000 });
    await waitForText(".graphiql-doc-explorer", /Subscription/, "the documentation explorer");

    // The portal's "Open in GraphiQL" link form: the operation in ?query=.
    const room = `rooms/${unique()}`;
    const subscription = `subscription { subscribe(room: "${room}") { text author } }`;
    await page.goto(`${chat.url}/docs/graphiql?query=${encodeURIComponent(subscription)}`);
    await page.waitForSelector(".graphiql-execute-button", { timeout: 15_000 });
    await page.click(".graphiql-execute-button");
    // The subscription starts when the socket is up: post until a message shows in the result pane.
    const deadline = Date.now() + 15_000;
    let shown = "";
    for (let i = 0; Date.now() < deadline; i++) {
      await post(room, `through graphiql ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      shown = (await page.textContent(".graphiql-response")) ?? "";
      if (/through graphiql \d+/.test(shown)) break;
    }
    assert.match(shown, /"author": "node"/, `GraphiQL's result pane: ${shown}`);
  });

  test("the token field goes on the page's calls", async () => {
    const locked = await startServer("bookstore-example", "--token", "portal-token-7");
    try {
      allowed.add(new URL(locked.url).host);
      await page.goto(`${locked.url}/#/method/bookstore.v1.Bookstore/ListShelves`);
      await page.waitForSelector("#try-send");
      await page.fill("#token", "");
      await page.click("#try-send");
      assert.match(await waitForText("#try-status", /^\d{3} /, "ListShelves without a token"), /^401 /);
      await page.fill("#token", "portal-token-7");
      await page.evaluate(() => (document.getElementById("try-status")!.textContent = ""));
      await page.click("#try-send");
      assert.match(await waitForText("#try-status", /^\d{3} /, "ListShelves with the token"), /^200 /);
      // The examples show where the token goes.
      assert.match((await page.locator(".example pre").allTextContents()).join("\n"), /authorization: Bearer \$TOKEN/);
      await page.fill("#token", "");
    } finally {
      await locked.stop();
    }
  });

  test("the schema's documents download from the portal", async () => {
    for (const path of ["/openapi.json", "/graphql/schema.graphql", "/docs/ts/index.ts", "/docs/descriptors.binpb"]) {
      const response = await fetch(`${chat.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.ok((await response.arrayBuffer()).byteLength > 100, `${path} has content`);
    }
    await page.goto(`${chat.url}/`);
    await page.waitForSelector("#downloads a");
    const links = await page.locator("#downloads a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    for (const path of ["/openapi.json", "/graphql/schema.graphql", "/docs/ts/index.ts", "/docs/descriptors.binpb"]) {
      assert.ok(links.includes(path), `the portal links ${path}: ${links}`);
    }
  });

  test("nothing was fetched from anywhere but the servers, and the pages logged no error", () => {
    assert.deepEqual(refused, [], "requests to other hosts");
    assert.deepEqual(problems, [], "page errors");
  });
});
