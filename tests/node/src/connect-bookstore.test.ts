// The bookstore over Connect (JSON and binary, POST and GET), gRPC-Web and gRPC, called with
// @connectrpc/connect-node: unary calls, errors, and WatchShelf streaming while a book is added.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";

import { unique, within, WAIT_MS } from "./support/async.js";
import { JsonClient, loadRegistry, openStream, service } from "./support/connect.js";
import { startServer, type Server } from "./support/servers.js";

const Bookstore = service(loadRegistry("bookstore"), "bookstore.v1.Bookstore");

interface TransportCase {
  name: string;
  make(baseUrl: string): { transport: Transport; close(): void };
}

function http2(baseUrl: string, make: (sessionManager: Http2SessionManager) => Transport) {
  const sessionManager = new Http2SessionManager(baseUrl); // plain http://: h2c with prior knowledge
  return { transport: make(sessionManager), close: () => sessionManager.abort() };
}

const TRANSPORTS: TransportCase[] = [
  {
    name: "Connect, JSON, HTTP/1.1",
    make: (baseUrl) => ({
      transport: createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
      close() {},
    }),
  },
  {
    name: "Connect, binary, HTTP/1.1",
    make: (baseUrl) => ({
      transport: createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
      close() {},
    }),
  },
  {
    name: "Connect, JSON, GET for side-effect-free methods, HTTP/1.1",
    make: (baseUrl) => ({
      transport: createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, useHttpGet: true }),
      close() {},
    }),
  },
  {
    name: "Connect, binary, HTTP/2 (h2c)",
    make: (baseUrl) =>
      http2(baseUrl, (sessionManager) =>
        createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager }),
      ),
  },
  {
    name: "gRPC-Web, binary, HTTP/1.1",
    make: (baseUrl) => ({ transport: createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }), close() {} }),
  },
  {
    name: "gRPC, HTTP/2 (h2c)", // always HTTP/2
    make: (baseUrl) =>
      http2(baseUrl, (sessionManager) => createGrpcTransport({ baseUrl, sessionManager })),
  },
];

let server: Server;
before(async () => {
  server = await startServer("bookstore-example");
});
after(async () => {
  await server?.stop();
});

/** Expects `call` to fail with a ConnectError of `code` whose message mentions every one of `mentions`. */
async function rejectsWith(call: Promise<unknown>, code: Code, ...mentions: string[]): Promise<void> {
  await assert.rejects(within(call, `a ${Code[code]} error`), (err: unknown) => {
    assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${String(err)}`);
    assert.equal(Code[err.code], Code[code], `expected ${Code[code]}, got ${Code[err.code]}: ${err.rawMessage}`);
    for (const text of mentions) {
      assert.ok(err.rawMessage.includes(text), `expected the message to mention ${JSON.stringify(text)}: ${err.rawMessage}`);
    }
    return true;
  });
}

function assertRecent(value: unknown, what: string): void {
  assert.equal(typeof value, "string", `${what} is missing`);
  const skewMs = Math.abs(Date.parse(value as string) - Date.now());
  assert.ok(skewMs < 300_000, `${what} (${String(value)}) is ${skewMs} ms away from now`);
}

for (const { name, make } of TRANSPORTS) {
  describe(`Bookstore over ${name}`, { timeout: 60_000 }, () => {
    let api: JsonClient;
    let close = () => {};
    before(() => {
      const made = make(server.url);
      api = new JsonClient(Bookstore, made.transport);
      close = made.close;
    });
    after(() => close());

    test("creates a shelf, whose name the server assigns, and reads it back", async () => {
      const theme = unique("theme-");
      const created = await within(api.unary("createShelf", { shelf: { theme } }), "CreateShelf");
      assert.match(String(created.name), /^shelves\/[^/]+$/);
      assert.equal(created.theme, theme);
      assertRecent(created.createTime, "createTime");

      const got = await within(api.unary("getShelf", { name: created.name! }), "GetShelf");
      assert.deepEqual(got, created);
    });

    test("a shelf that does not exist is NotFound", async () => {
      await rejectsWith(api.unary("getShelf", { name: "shelves/no-such-shelf" }), Code.NotFound);
    });

    test("a missing REQUIRED field is InvalidArgument naming the field", async () => {
      await rejectsWith(api.unary("createShelf", { shelf: {} }), Code.InvalidArgument, "theme");
      await rejectsWith(api.unary("getShelf", {}), Code.InvalidArgument, "name");
    });

    test("WatchShelf streams the book a CreateBook call adds, until the client aborts", async () => {
      const shelf = await within(api.unary("createShelf", { shelf: { theme: "Watched" } }), "CreateShelf");
      const other = await within(api.unary("createShelf", { shelf: { theme: "Elsewhere" } }), "CreateShelf");

      const watch = await openStream(api, "watchShelf", { name: shelf.name! });
      try {
        await within(api.unary("createBook", { parent: other.name!, book: { title: "Not watched" } }), "CreateBook");
        const book = await within(
          api.unary("createBook", { parent: shelf.name!, book: { title: "Watched", isbn: "9780000000002" } }),
          "CreateBook",
        );

        const [event] = await watch.messages.take(1, "the BOOK_ADDED event");
        assert.equal(event!.kind, "KIND_BOOK_ADDED");
        assert.deepEqual(event!.book, book);
        assertRecent(event!.eventTime, "eventTime");
      } finally {
        await watch.stop();
      }
      assert.equal(watch.messages.items.length, 1, `only the watched shelf's book: ${JSON.stringify(watch.messages.items)}`);
    });

    test("WatchShelf on a shelf that does not exist fails with NotFound", async () => {
      const stream = api.serverStream("watchShelf", { name: "shelves/no-such-shelf" }, { timeoutMs: WAIT_MS });
      await rejectsWith(
        (async () => {
          for await (const event of stream) throw new Error(`unexpected event ${JSON.stringify(event)}`);
        })(),
        Code.NotFound,
      );
    });
  });
}

test("the descriptor set keeps idempotency_level, so Connect's useHttpGet sends exactly the side-effect-free methods as GET", () => {
  const noSideEffects = Bookstore.methods
    .filter((m) => m.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS)
    .map((m) => m.name);
  assert.deepEqual(noSideEffects, [
    "ListShelves",
    "GetShelf",
    "ListBooks",
    "GetBook",
    "SearchBooks",
    "BatchGetShelves",
    "ListBooksByShelves",
    "BatchGetBooks",
    "BatchGetAuthors",
  ]);
});

describe("Connect with gzip", { timeout: 30_000 }, () => {
  const gzipTransport = (useBinaryFormat: boolean) =>
    createConnectTransport({
      baseUrl: server.url,
      httpVersion: "1.1",
      useBinaryFormat,
      sendCompression: compressionGzip,
      acceptCompression: [compressionGzip],
      compressMinBytes: 0, // compress even these small requests
    });

  for (const [format, useBinaryFormat] of [["JSON", false], ["binary", true]] as const) {
    test(`a unary ${format} call: the gzip request is understood and the response comes back gzip-compressed`, async () => {
      const api = new JsonClient(Bookstore, gzipTransport(useBinaryFormat));
      let encoding: string | null = "(no response headers)";
      const theme = unique("gzip-");
      const shelf = await within(
        api.unary("createShelf", { shelf: { theme } }, { onHeader: (headers) => (encoding = headers.get("content-encoding")) }),
        "CreateShelf with a gzip body",
      );
      assert.equal(shelf.theme, theme);
      assert.equal(encoding, "gzip", "the server answers gzip to a client that accepts it");
      const got = await within(api.unary("getShelf", { name: shelf.name! }), "GetShelf with gzip");
      assert.deepEqual(got, shelf);
    });
  }

  test("a server stream: WatchShelf with gzip-compressed messages both ways", async () => {
    const api = new JsonClient(Bookstore, gzipTransport(false));
    const shelf = await within(api.unary("createShelf", { shelf: { theme: "Compressed" } }), "CreateShelf");
    const watch = await openStream(api, "watchShelf", { name: shelf.name! });
    try {
      const encoding = watch.headers.get("connect-content-encoding");
      assert.equal(encoding, "gzip", "the server compresses the stream's messages for a client that accepts gzip");
      const book = await within(api.unary("createBook", { parent: shelf.name!, book: { title: "Squeezed" } }), "CreateBook");
      const [event] = await watch.messages.take(1, "the BOOK_ADDED event");
      assert.equal(event!.kind, "KIND_BOOK_ADDED");
      assert.deepEqual(event!.book, book);
    } finally {
      await watch.stop();
    }
  });
});
