// The bookstore over tRPC, called with @trpc/client and the AppRouter type apigen generates:
// queries and mutations (httpLink), batches (httpBatchLink, httpBatchStreamLink), errors in
// tRPC's default shape, and WatchShelf as a subscription over SSE (httpSubscriptionLink).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  createTRPCClient,
  httpBatchLink,
  httpBatchStreamLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
} from "@trpc/client";
import { EventSource } from "eventsource";

import type { AppRouter, Book, ShelfEvent } from "../../../generated-examples/bookstore/src/api/ts/index.js";
import { unique, within } from "./support/async.js";
import { startServer, TOKEN, type Server } from "./support/servers.js";
import { procedures, recordingFetch, rejectsWithTrpc, subscribed } from "./support/trpc.js";

let server: Server;
before(async () => {
  server = await startServer("bookstore-example");
});
after(async () => {
  await server?.stop();
});

const trpcUrl = () => `${server.url}/trpc`;

/** Every field of a Book a client may set, in the proto3 JSON mapping. */
const FULL_BOOK: Book = {
  title: "The Left Hand of Darkness",
  authors: ["Ursula K. Le Guin"],
  genre: "GENRE_FICTION",
  isbn: "9780441478125", // int64: a string, larger than 2^53 would still be exact
  price: 9.99,
  subtitle: "A novel",
  labels: { shelfmark: "LEG-1", condition: "used" },
  publisher: { name: "Ace", country: "US" },
  inStock: 3,
  coverThumbnail: "iVBORw0KGgo=", // bytes: base64
};

describe("tRPC over httpLink", { timeout: 60_000 }, () => {
  const recorder = recordingFetch();
  const client = () => createTRPCClient<AppRouter>({ links: [httpLink({ url: trpcUrl(), fetch: recorder.fetch })] });

  test("a mutation creates a shelf and a query reads it back", async () => {
    const trpc = client();
    const theme = unique("theme-");
    const shelf = await within(trpc.bookstore.createShelf.mutate({ shelf: { theme } }), "createShelf");
    assert.match(shelf.name ?? "", /^shelves\/[^/]+$/);
    assert.equal(shelf.theme, theme);
    assert.ok(Date.parse(shelf.createTime ?? "") > Date.now() - 300_000, `a recent createTime: ${shelf.createTime}`);

    const got = await within(trpc.bookstore.getShelf.query({ name: shelf.name! }), "getShelf");
    assert.deepEqual(got, shelf);

    const [mutation, query] = recorder.requests.slice(-2);
    assert.deepEqual([mutation!.method, procedures(mutation!)], ["POST", ["bookstore.createShelf"]]);
    assert.deepEqual([query!.method, procedures(query!)], ["GET", ["bookstore.getShelf"]]);
    assert.deepEqual(JSON.parse(query!.url.searchParams.get("input") ?? "null"), { name: shelf.name });
  });

  test("a book keeps every field through createBook and getBook, in the proto3 JSON mapping", async () => {
    const trpc = client();
    const shelf = await within(trpc.bookstore.createShelf.mutate({ shelf: { theme: "Round trips" } }), "createShelf");
    const created = await within(trpc.bookstore.createBook.mutate({ parent: shelf.name!, book: FULL_BOOK }), "createBook");
    assert.ok(created.name?.startsWith(`${shelf.name}/books/`), `a name on the shelf: ${created.name}`);
    const { name: _name, createTime, updateTime: _updateTime, shelf: onShelf, ...fields } = created;
    assert.deepEqual(fields, FULL_BOOK);
    assert.equal(onShelf, shelf.name, "an output-only field naming the book's shelf");
    assert.equal(typeof createTime, "string");

    assert.deepEqual(await within(trpc.bookstore.getBook.query({ name: created.name! }), "getBook"), created);
    const listed = await within(trpc.bookstore.listBooks.query({ parent: shelf.name! }), "listBooks");
    assert.deepEqual(listed.books, [created]);
  });

  test("deleteShelf, whose result is google.protobuf.Empty, resolves to {}", async () => {
    const trpc = client();
    const shelf = await within(trpc.bookstore.createShelf.mutate({ shelf: { theme: "Short-lived" } }), "createShelf");
    assert.deepEqual(await within(trpc.bookstore.deleteShelf.mutate({ name: shelf.name! }), "deleteShelf"), {});
    await rejectsWithTrpc(trpc.bookstore.getShelf.query({ name: shelf.name! }), "NOT_FOUND", 404);
  });

  test("a book that does not exist is NOT_FOUND (404)", async () => {
    const err = await rejectsWithTrpc(
      client().bookstore.getBook.query({ name: "shelves/no-such-shelf/books/nope" }),
      "NOT_FOUND",
      404,
    );
    assert.equal((err.data as { path?: string } | undefined)?.path, "bookstore.getBook");
  });

  test("a shelf without its REQUIRED theme is BAD_REQUEST (400) naming the field", async () => {
    await rejectsWithTrpc(client().bookstore.createShelf.mutate({ shelf: {} }), "BAD_REQUEST", 400, "theme");
  });

  test("a value of the wrong JSON type is BAD_REQUEST naming the field", async () => {
    // A JavaScript caller the types cannot stop: isbn must be a string or a number, not an object.
    const book = { title: "Typed wrong", isbn: { digits: 978 } } as unknown as Book;
    const shelf = await within(client().bookstore.createShelf.mutate({ shelf: { theme: "Wrong types" } }), "createShelf");
    await rejectsWithTrpc(client().bookstore.createBook.mutate({ parent: shelf.name!, book }), "BAD_REQUEST", 400, "isbn");
  });

  test("calling a query with the mutation's POST is METHOD_NOT_SUPPORTED (405)", async () => {
    const getBook = client().bookstore.getBook as unknown as { mutate(input: unknown): Promise<unknown> };
    await rejectsWithTrpc(getBook.mutate({ name: "shelves/x/books/y" }), "METHOD_NOT_SUPPORTED", 405);
    const createShelf = client().bookstore.createShelf as unknown as { query(input: unknown): Promise<unknown> };
    await rejectsWithTrpc(createShelf.query({ shelf: { theme: "by GET" } }), "METHOD_NOT_SUPPORTED", 405);
  });
});

for (const [name, makeLink] of [
  ["httpBatchLink", httpBatchLink],
  ["httpBatchStreamLink", httpBatchStreamLink],
] as const) {
  describe(`tRPC over ${name}`, { timeout: 60_000 }, () => {
    test("two queries made together go out as one HTTP request, and one failing does not fail the other", async () => {
      const recorder = recordingFetch();
      const trpc = createTRPCClient<AppRouter>({ links: [makeLink({ url: trpcUrl(), fetch: recorder.fetch })] });
      const shelf = await within(trpc.bookstore.createShelf.mutate({ shelf: { theme: "Batched" } }), "createShelf");
      recorder.requests.length = 0;

      const [found, missing] = await within(
        Promise.allSettled([
          trpc.bookstore.getShelf.query({ name: shelf.name! }),
          trpc.bookstore.getBook.query({ name: `${shelf.name}/books/missing` }),
        ]),
        "the batch",
      );

      assert.equal(recorder.requests.length, 1, `one HTTP request: ${recorder.requests.map((r) => r.url.href).join(", ")}`);
      const [request] = recorder.requests;
      assert.equal(request!.method, "GET");
      assert.equal(request!.url.searchParams.get("batch"), "1");
      assert.deepEqual(procedures(request!), ["bookstore.getShelf", "bookstore.getBook"]);
      if (name === "httpBatchStreamLink") assert.equal(request!.headers.get("trpc-accept"), "application/jsonl");

      assert.equal(found.status, "fulfilled", String((found as PromiseRejectedResult).reason));
      assert.deepEqual((found as PromiseFulfilledResult<unknown>).value, shelf);
      assert.equal(missing.status, "rejected");
      await rejectsWithTrpc(Promise.reject((missing as PromiseRejectedResult).reason), "NOT_FOUND", 404);
    });

    test("two mutations made together go out as one POST, each getting its own result", async () => {
      const recorder = recordingFetch();
      const trpc = createTRPCClient<AppRouter>({ links: [makeLink({ url: trpcUrl(), fetch: recorder.fetch })] });
      const themes = [unique("first-"), unique("second-")];
      const shelves = await within(
        Promise.all(themes.map((theme) => trpc.bookstore.createShelf.mutate({ shelf: { theme } }))),
        "the batch",
      );
      assert.equal(recorder.requests.length, 1, `one HTTP request: ${recorder.requests.map((r) => r.url.href).join(", ")}`);
      assert.equal(recorder.requests[0]!.method, "POST");
      assert.deepEqual(procedures(recorder.requests[0]!), ["bookstore.createShelf", "bookstore.createShelf"]);
      assert.deepEqual(
        shelves.map((s) => s.theme),
        themes,
      );
      assert.notEqual(shelves[0]!.name, shelves[1]!.name);
    });
  });
}

describe("tRPC subscriptions over httpSubscriptionLink (SSE)", { timeout: 60_000 }, () => {
  const client = () =>
    createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url: trpcUrl(), EventSource }),
          false: httpBatchLink({ url: trpcUrl() }),
        }),
      ],
    });

  test("watchShelf delivers the event of a book a mutation adds after the subscription started", async () => {
    const trpc = client();
    const shelf = await within(trpc.bookstore.createShelf.mutate({ shelf: { theme: "Watched" } }), "createShelf");
    const other = await within(trpc.bookstore.createShelf.mutate({ shelf: { theme: "Elsewhere" } }), "createShelf");

    const watch = await subscribed<ShelfEvent>(
      (callbacks) => trpc.bookstore.watchShelf.subscribe({ name: shelf.name! }, callbacks),
      "watchShelf",
    );
    try {
      await within(trpc.bookstore.createBook.mutate({ parent: other.name!, book: { title: "Not watched" } }), "createBook");
      const book = await within(trpc.bookstore.createBook.mutate({ parent: shelf.name!, book: { title: "Watched" } }), "createBook");
      const updated = await within(
        trpc.bookstore.updateBook.mutate({ book: { name: book.name!, title: "Watched, revised" }, updateMask: "title" }),
        "updateBook",
      );

      const events = await watch.events.take(2, "the BOOK_ADDED and BOOK_UPDATED events");
      assert.deepEqual(
        events.map((e) => [e.kind, e.book]),
        [
          ["KIND_BOOK_ADDED", book],
          ["KIND_BOOK_UPDATED", updated],
        ],
      );
      for (const event of events) assert.equal(typeof event.eventTime, "string");
    } finally {
      watch.stop();
    }
    assert.equal(watch.events.items.length, 2, `only the watched shelf's events: ${JSON.stringify(watch.events.items)}`);
  });

  test("watchShelf on a shelf that does not exist reports NOT_FOUND to onError", async () => {
    const trpc = client();
    const failed = new Promise<unknown>((resolve, reject) => {
      const subscription = trpc.bookstore.watchShelf.subscribe(
        { name: "shelves/no-such-shelf" },
        {
          onData: (event) => reject(new Error(`unexpected event ${JSON.stringify(event)}`)),
          onError: (err) => {
            subscription.unsubscribe();
            resolve(err);
          },
        },
      );
    });
    await rejectsWithTrpc(within(failed, "onError").then((err) => Promise.reject(err)), "NOT_FOUND", 404);
  });
});

describe("tRPC on a bookstore started with --token", { timeout: 60_000 }, () => {
  let tokenServer: Server;
  before(async () => {
    tokenServer = await startServer("bookstore-example", "--token", TOKEN);
  });
  after(async () => {
    await tokenServer?.stop();
  });

  const client = (auth: { headers?: Record<string, string>; connectionParams?: Record<string, string> }) => {
    const url = `${tokenServer.url}/trpc`;
    return createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url, EventSource, connectionParams: auth.connectionParams }),
          false: httpBatchLink({ url, headers: auth.headers }),
        }),
      ],
    });
  };

  test("a call without the token, or with a wrong one, is UNAUTHORIZED (401)", async () => {
    await rejectsWithTrpc(client({}).bookstore.listShelves.query({}), "UNAUTHORIZED", 401);
    await rejectsWithTrpc(
      client({ headers: { authorization: "Bearer wrong" } }).bookstore.createShelf.mutate({ shelf: { theme: "x" } }),
      "UNAUTHORIZED",
      401,
    );
  });

  test("with the authorization header calls work, and subscriptions work with connectionParams", async () => {
    const authorization = `Bearer ${TOKEN}`;
    const trpc = client({ headers: { authorization }, connectionParams: { authorization } });
    const shelf = await within(trpc.bookstore.createShelf.mutate({ shelf: { theme: "Guarded" } }), "createShelf");
    assert.deepEqual(await within(trpc.bookstore.getShelf.query({ name: shelf.name! }), "getShelf"), shelf);

    const watch = await subscribed<ShelfEvent>(
      (callbacks) => trpc.bookstore.watchShelf.subscribe({ name: shelf.name! }, callbacks),
      "watchShelf with connectionParams",
    );
    try {
      const book = await within(trpc.bookstore.createBook.mutate({ parent: shelf.name!, book: { title: "Guarded" } }), "createBook");
      const [event] = await watch.events.take(1, "the BOOK_ADDED event");
      assert.deepEqual([event!.kind, event!.book], ["KIND_BOOK_ADDED", book]);
    } finally {
      watch.stop();
    }
  });

  test("a subscription without connectionParams gets no events, and the client learns it was refused", async () => {
    // @trpc/server itself answers with the SSE stream's error event (onError, UNAUTHORIZED); a
    // server that refuses with HTTP 401 shows up as a connection error instead. Either tells the user.
    const trpc = client({});
    const refused = new Promise<unknown>((resolve, reject) => {
      const subscription = trpc.bookstore.watchShelf.subscribe(
        { name: "shelves/1" },
        {
          onData: (event) => reject(new Error(`unexpected event ${JSON.stringify(event)}`)),
          onError: (err) => {
            subscription.unsubscribe();
            resolve(err);
          },
          onConnectionStateChange: (state) => {
            if (state.state === "connecting" && state.error) {
              subscription.unsubscribe();
              resolve(state.error);
            }
          },
        },
      );
    });
    const err = await within(refused, "the subscription's error");
    assert.ok(err instanceof TRPCClientError, `a TRPCClientError: ${String(err)}`);
    const data = err.data as { code?: string } | undefined;
    assert.ok(data?.code === "UNAUTHORIZED" || /\b401\b/.test(err.message), `UNAUTHORIZED or a 401: ${err.message}`);
  });
});
