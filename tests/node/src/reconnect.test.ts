// The generated WebSocket client (ts/ws.ts) in Chromium keeps a chat room through real failures:
// two chat instances share a private redis-server, the page (src/browser/reconnect.ts) subscribes
// to a room with the URLs of both, and the test, posting from Node all along,
//
// - cuts the page's network (playwright's offline mode: the open socket goes silent, new ones
//   fail) and gives it back;
// - stops the instance the page is on (it ends its streams and closes with 1001) and starts it
//   again on the same port, so the page resumes on the other instance;
// - freezes an instance with SIGSTOP (a connection that dies without closing, found by the
//   client's heartbeat) while the page has a PostMessage in flight.
//
// After each, the page has every message of the room exactly once, in order, and the mutation in
// flight failed with a retryable error and was not sent again. The tests run in order on one page.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import type { Browser, BrowserContext, Page } from "playwright-core";

import type { ChatMessage } from "../../../generated-examples/chat/src/api/ts/index.js";
import { explain, unique } from "./support/async.js";
import { launchChromium } from "./support/chromium.js";
import { freePort, REPO, startRedis, startServerOn, type Server } from "./support/servers.js";
import { assertBuilt, callJson, dataOf, listed, serveSite, type Site, waitForData, waitForItems } from "./support/site.js";

const PAGE_HTML = join(REPO, "tests", "node", "src", "browser", "reconnect.html");
const PAGE_SCRIPT = "/tests/node/src/browser/reconnect.js";

let redis: Server;
/** The two chat instances, on fixed ports so that one can start again where it was. */
const chats: { addr: string; server?: Server }[] = [];
let site: Site;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageLog: string[] = [];
const room = `rooms/${unique()}`;

async function startChat(i: number): Promise<void> {
  const chat = chats[i]!;
  chat.server = await startServerOn("chat-example", chat.addr, "--redis", redis.url);
}

/** Posts to the room over REST from Node, through instance `i`. */
async function post(i: number, text: string): Promise<ChatMessage> {
  return callJson<ChatMessage>(`http://${chats[i]!.addr}`, "POST", `/v1/${room}/messages`, { author: "node", text });
}

/** The room's history as the servers keep it (GetHistory by Connect GET). */
async function history(): Promise<ChatMessage[]> {
  const message = encodeURIComponent(JSON.stringify({ room, limit: 1000 }));
  const path = `/chat.v1.Chat/GetHistory?connect=v1&encoding=json&message=${message}`;
  return (await callJson<{ messages?: ChatMessage[] }>(`http://${chats[1]!.addr}`, "GET", path)).messages ?? [];
}

/** The history once it has stopped changing: a thawed server may still be posting what reached it. */
async function settledHistory(): Promise<ChatMessage[]> {
  let last = await history();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = await history();
    if (now.length === last.length) return now;
    last = now;
  }
}

/** Waits until the page lists `n` messages, and checks they are the room's first `n`, each once, in order. */
async function pageHasExactly(n: number, what: string): Promise<void> {
  const items = await waitForItems(page, "messages", n, what);
  const sequences = items.map((item) => item.sequence);
  const expected = Array.from({ length: n }, (_, i) => String(i + 1));
  assert.deepEqual(sequences, expected, `${what}: the page's messages, by sequence`);
  assert.deepEqual(
    items.map((item) => item.eventId),
    expected,
    `${what}: each message's event id is its sequence`,
  );
  const roomHistory = await history();
  assert.deepEqual(
    items.map((item) => item.text),
    roomHistory.slice(0, n).map((m) => m.text),
    `${what}: the page's texts are the room's`,
  );
}

/** Runs `body`; on a failure, adds the page's log and errors and the servers' output. */
async function onPage(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const errors = await page
      ?.locator("#errors")
      .innerText({ timeout: 1_000 })
      .catch((e: unknown) => `(unreadable: ${explain(e)})`);
    const states = await listed(page, "states").catch(() => []);
    throw new Error(
      [
        explain(err).split("\n")[0],
        `the page's states: ${states.map((s) => s.state).join(" → ")}`,
        `the page's #errors: ${errors || "(none)"}`,
        `the page's log:\n${pageLog.join("\n") || "(empty)"}`,
        ...chats.map((c) => c.server?.output() ?? ""),
      ].join("\n"),
      { cause: err },
    );
  }
}

before(async () => {
  assertBuilt(PAGE_SCRIPT);
  redis = await startRedis();
  for (let i = 0; i < 2; i++) chats.push({ addr: `127.0.0.1:${await freePort()}` });
  await Promise.all([startChat(0), startChat(1)]);
  site = await serveSite(PAGE_HTML);
  browser = await launchChromium();
  context = await browser.newContext();
  page = await context.newPage();
  page.on("console", (message) => pageLog.push(`console.${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => pageLog.push(`uncaught: ${explain(error)}`));
  const ws = chats.map((c) => `ws://${c.addr}/ws`).join(",");
  await page.goto(`${site.url}/?${new URLSearchParams({ ws, room })}`);
  await waitForData(page, "body", "ready", "true", "the page's socket to open");
});

after(async () => {
  const stops: Array<Promise<unknown>> = [];
  await browser?.close().catch((err: unknown) => stops.push(Promise.reject(err)));
  if (site) stops.push(site.close());
  for (const chat of chats) {
    chat.server?.signal("SIGCONT");
    stops.push(chat.server?.stop() ?? Promise.resolve());
  }
  await Promise.allSettled(stops);
  stops.push(redis?.stop() ?? Promise.resolve());
  const errors = (await Promise.allSettled(stops)).flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
  if (errors.length > 0) throw new AggregateError(errors, `stopping: ${errors.map(explain).join("; ")}`);
});

describe("Chromium: ts/ws.ts keeps a chat room through drops, restarts and a frozen server", { timeout: 120_000 }, () => {
  test("the page's stream gets the room's messages, each with its sequence as event id", async () => {
    await onPage(async () => {
      // Subscribe has no "started" signal: post until the first message shows.
      await post(0, "first");
      await pageHasExactly(1, "the first message");
      await post(1, "second, through the other instance");
      await pageHasExactly(2, "two messages");
      assert.equal((await dataOf(page, "body")).state, "open");
    });
  });

  test("offline: the heartbeat notices, and messages posted meanwhile arrive once each, in order", async () => {
    await onPage(async () => {
      await context.setOffline(true);
      await waitForData(page, "body", "state", "reconnecting", "the page to notice the network is gone");
      for (const [i, text] of ["while offline 1", "while offline 2", "while offline 3"].entries()) await post(i % 2, text);
      await context.setOffline(false);
      await waitForData(page, "body", "state", "open", "the page to reconnect");
      await pageHasExactly(5, "the messages posted while offline");
      await post(0, "after the network came back");
      await pageHasExactly(6, "the live message after the reconnect");
    });
  });

  test("a restart: the instance the page is on stops, the page resumes on the other, nothing lost or repeated", async () => {
    await onPage(async () => {
      const states = (await listed(page, "states")).length;
      // The page's socket is on instance 0 (the first URL) or, after the offline test, either one:
      // stop both in turn, each time with a post in between, so that every way is taken.
      for (const i of [0, 1]) {
        await chats[i]!.server!.stop();
        await post(1 - i, `while instance ${i} is down`);
        await startChat(i);
        await post(i, `after instance ${i} is back`);
      }
      await pageHasExactly(10, "every message across the restarts");
      const after = (await listed(page, "states")).slice(states).map((s) => s.state);
      assert.ok(after.includes("reconnecting"), `the page reconnected at least once: ${after.join(" → ")}`);
      assert.equal((await dataOf(page, "body")).state, "open");
    });
  });

  test("a frozen server: the heartbeat drops the dead connection, the mutation in flight fails retryably and is not sent again", async () => {
    await onPage(async () => {
      const before = (await listed(page, "states")).length;
      // Freeze both in turn: whichever the page is on, it goes silent with a post in flight.
      for (const i of [0, 1]) {
        chats[i]!.server!.signal("SIGSTOP");
        await page.evaluate((text) => (window as unknown as { post: (t: string) => Promise<void> }).post(text), `in flight ${i}`);
        await post(1 - i, `while instance ${i} is frozen`);
        chats[i]!.server!.signal("SIGCONT");
      }
      const outcomes = await waitForItems(page, "posts", 2, "both posts from the page to settle");
      const failed = outcomes.filter((o) => o.outcome !== "ok");
      assert.ok(failed.length >= 1, `at least one post was in flight on a frozen server: ${JSON.stringify(outcomes)}`);
      for (const o of failed) {
        assert.deepEqual([o.outcome, o.retryable], ["unavailable", "true"], `a post lost with its connection: ${JSON.stringify(o)}`);
      }
      const states = (await listed(page, "states")).slice(before).map((s) => s.state);
      assert.ok(states.includes("reconnecting"), `the heartbeat dropped the frozen connection: ${states.join(" → ")}`);
      await waitForData(page, "body", "state", "open", "the page to be connected again");
      // A frozen server runs what reached it once it thaws; the client never sent it twice.
      await post(0, "after the thaw");
      const roomHistory = await settledHistory();
      for (const text of ["in flight 0", "in flight 1"]) {
        const copies = roomHistory.filter((m) => m.text === text).length;
        assert.ok(copies <= 1, `"${text}" was posted ${copies} times`);
      }
      await pageHasExactly(roomHistory.length, "every message of the room, the thawed ones included");
    });
  });
});
