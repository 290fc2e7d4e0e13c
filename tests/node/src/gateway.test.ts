// `apigen gateway` in front of a gRPC server apigen did not generate (tests/e2e/upstream/server.py,
// grpcio), called with the TypeScript ecosystem's own clients: @connectrpc/connect-node over
// Connect (JSON and binary), gRPC-Web and gRPC; @trpc/client with the generated AppRouter,
// subscriptions included; and Chromium's EventSource on a server stream's REST binding.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import { EventSource } from "eventsource";
import { chromium } from "playwright-core";

import type { AppRouter, ShelfEvent } from "../../../generated-examples/bookstore/src/api/ts/index.js";
import { unique, within } from "./support/async.js";
import { JsonClient, loadRegistry, openStream, service } from "./support/connect.js";
import { startGateway, type Server } from "./support/servers.js";
import { subscribed } from "./support/trpc.js";

const Bookstore = service(loadRegistry("bookstore"), "bookstore.v1.Bookstore");

let gateway: Server;
let upstream: Server;
before(async () => {
  ({ gateway, upstream } = await startGateway());
});
after(async () => {
  await gateway?.stop();
  await upstream?.stop();
});

const TRANSPORTS: { name: string; make(baseUrl: string): { transport: Transport; close(): void } }[] = [
  {
    name: "Connect, JSON",
    make: (baseUrl) => ({ transport: createConnectTransport({ baseUrl, httpVersion: "1.1" }), close() {} }),
  },
  {
    name: "Connect, binary",
    make: (baseUrl) => ({
      transport: createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
      close() {},
    }),
  },
  {
    name: "gRPC-Web",
    make: (baseUrl) => ({
      transport: createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
      close() {},
    }),
  },
  {
    name: "gRPC (h2c)",
    make: (baseUrl) => {
      const sessionManager = new Http2SessionManager(baseUrl);
      return { transport: createGrpcTransport({ baseUrl, sessionManager }), close: () => sessionManager.abort() };
    },
  },
];

for (const { name, make } of TRANSPORTS) {
  describe(`@connectrpc/connect-node through the gateway: ${name}`, { timeout: 60_000 }, () => {
    test("unary calls reach the upstream, and its errors come back with their details", async () => {
      const { transport, close } = make(gateway.url);
      try {
        const api = new JsonClient(Bookstore, transport);
        const theme = unique("gateway");
        const shelf = await within(api.unary("createShelf", { shelf: { theme } }), "createShelf");
        assert.equal(shelf.theme, theme);
        assert.deepEqual(await within(api.unary("getShelf", { name: shelf.name! }), "getShelf"), shelf);
        const missing = `${shelf.name as string}/books/999999`;
        const err = await api.unary("getBook", { name: missing }).then(
          () => assert.fail("getBook of a missing book succeeded"),
          (e: unknown) => ConnectError.from(e),
        );
        assert.equal(err.code, Code.NotFound);
        assert.match(err.rawMessage, /999999/);
        const detail = err.details[0];
        assert.ok(detail && "type" in detail && detail.type === "google.rpc.ErrorInfo", JSON.stringify(err.details));
      } finally {
        close();
      }
    });

    test("a server stream delivers what happens upstream while it is open", async () => {
      const { transport, close } = make(gateway.url);
      try {
        const api = new JsonClient(Bookstore, transport);
        const shelf = await api.unary("createShelf", { shelf: { theme: unique("watched") } });
        const watch = await openStream(api, "watchShelf", { name: shelf.name! });
        try {
          const book = await api.unary("createBook", { parent: shelf.name!, book: { title: "Through the gateway" } });
          const [event] = await watch.messages.take(1, "the BOOK_ADDED event");
          assert.equal(event!.kind, "KIND_BOOK_ADDED");
          assert.deepEqual(event!.book, book);
        } finally {
          await watch.stop();
        }
      } finally {
        close();
      }
    });
  });
}

describe("@trpc/client through the gateway", { timeout: 60_000 }, () => {
  const client = () =>
    createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url: `${gateway.url}/trpc`, EventSource }),
          false: httpBatchLink({ url: `${gateway.url}/trpc` }),
        }),
      ],
    });

  test("queries, mutations and a subscription, typed by the generated AppRouter", async () => {
    const trpc = client();
    const shelf = await within(trpc.bookstore.createShelf.mutate({ shelf: { theme: "tRPC" } }), "createShelf");
    assert.equal((await within(trpc.bookstore.getShelf.query({ name: shelf.name! }), "getShelf")).theme, "tRPC");
    const watch = await subscribed<ShelfEvent>(
      (callbacks) => trpc.bookstore.watchShelf.subscribe({ name: shelf.name! }, callbacks),
      "watchShelf",
    );
    try {
      const book = await within(trpc.bookstore.createBook.mutate({ parent: shelf.name!, book: { title: "Typed" } }), "createBook");
      const [event] = await watch.events.take(1, "the BOOK_ADDED event");
      assert.deepEqual([event!.kind, event!.book], ["KIND_BOOK_ADDED", book]);
    } finally {
      watch.stop();
    }
    await assert.rejects(trpc.bookstore.getShelf.query({ name: "shelves/999999" }), (err: unknown) => {
      assert.ok(err instanceof TRPCClientError);
      assert.equal((err.data as { code?: string }).code, "NOT_FOUND");
      return true;
    });
  });
});

describe("Chromium's EventSource through the gateway", { timeout: 60_000 }, () => {
  test("a page watching a shelf on WatchShelf's REST binding gets the upstream's events", async () => {
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    });
    try {
      const page = await browser.newPage();
      // A page of the gateway's own origin: a blank page's origin is `null`, which no server allows by default.
      await page.goto(`${gateway.url}/healthz`);
      const post = async (path: string, body: unknown) => {
        const response = await fetch(`${gateway.url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        assert.equal(response.status, 200, await response.clone().text());
        return (await response.json()) as { name: string };
      };
      const shelf = await post("/v1/shelves", { theme: "Browser" });
      // The page opens the stream and reports each event's data; the test adds a book meanwhile.
      await page.evaluate((url) => {
        const w = window as unknown as { events: string[]; opened: boolean };
        w.events = [];
        w.opened = false;
        const source = new EventSource(url);
        source.onopen = () => (w.opened = true);
        source.onmessage = (e) => w.events.push(e.data as string);
      }, `${gateway.url}/v1/${shelf.name}:watch`);
      await page.waitForFunction(() => (window as unknown as { opened: boolean }).opened, undefined, { timeout: 10_000 });
      const book = await post(`/v1/${shelf.name}/books`, { title: "Seen in a browser" });
      await page.waitForFunction(() => (window as unknown as { events: string[] }).events.length > 0, undefined, {
        timeout: 10_000,
      });
      const events = await page.evaluate(() => (window as unknown as { events: string[] }).events);
      const event = JSON.parse(events[0]!) as { kind: string; book: { name: string } };
      assert.deepEqual([event.kind, event.book.name], ["KIND_BOOK_ADDED", book.name]);
    } finally {
      await browser.close();
    }
  });
});
