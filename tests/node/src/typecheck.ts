// Compile-time tests of the generated AppRouter types: `tsc -p tests/node` fails when a line
// marked `@ts-expect-error` compiles (an unused @ts-expect-error is an error), i.e. when the
// types stop rejecting a mistake a user would want caught. Compiled, never run.

import { createTRPCClient, httpLink } from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";

import type {
  AppRouter,
  Book,
  Genre,
  GetShelfRequest,
  ShelfEvent,
} from "../../../generated-examples/bookstore/src/api/ts/index.js";
import type { AppRouter as ChatRouter } from "../../../generated-examples/chat/src/api/ts/index.js";

/** A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** A and B accept the same values (tRPC passes outputs through its JSON `Serialize` type). */
type Alike<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

export async function neverCalled(): Promise<void> {
  const client = createTRPCClient<AppRouter>({ links: [httpLink({ url: "http://127.0.0.1:1/trpc" })] });
  const chat = createTRPCClient<ChatRouter>({ links: [httpLink({ url: "http://127.0.0.1:1/trpc" })] });

  // What must compile: the proto3 JSON mapping of every kind of field.
  const book: Book = await client.bookstore.getBook.query({ name: "shelves/1/books/1" });
  const isbn: string | undefined = book.isbn; // int64 as a string
  const subtitle: string | null | undefined = book.subtitle; // a wrapper: nullable
  const labels: { [key: string]: string } | undefined = book.labels; // a map
  const genre: Genre | undefined = book.genre; // an enum: its value names
  void [isbn, subtitle, labels, genre];
  await client.bookstore.createBook.mutate({ parent: "shelves/1", book: { title: "t", genre: "GENRE_POETRY", isbn: "1" } });
  await client.bookstore.updateBook.mutate({ book: { name: "shelves/1/books/1" }, updateMask: "title,publisher.country" });
  const deleted: Record<string, never> = await client.bookstore.deleteShelf.mutate({ name: "shelves/1" });
  void deleted;
  const posted = await chat.chat.postMessage.mutate({ room: "rooms/a", author: "a", text: "t" });
  const sequence: string | undefined = posted.sequence; // uint64 as a string
  void sequence;
  client.bookstore.watchShelf.subscribe(
    { name: "shelves/1" },
    {
      onData: (event) => {
        const typed: ShelfEvent = event; // each event is one ShelfEvent
        void (typed.kind satisfies "KIND_BOOK_ADDED" | "KIND_BOOK_UPDATED" | "KIND_BOOK_REMOVED" | "KIND_UNSPECIFIED" | undefined);
      },
    },
  );
  assertType<Equal<inferRouterInputs<AppRouter>["bookstore"]["getShelf"], GetShelfRequest>>();
  assertType<Alike<inferRouterOutputs<AppRouter>["bookstore"]["getBook"], Book>>();

  // What must not compile.

  // @ts-expect-error: a misspelt field name in an input
  await client.bookstore.getBook.query({ nmae: "x" });

  // @ts-expect-error: a field of the wrong type (name is a string)
  await client.bookstore.getBook.query({ name: 42 });

  // @ts-expect-error: an int64 field is a string in proto3 JSON, not a number
  await client.bookstore.createBook.mutate({ parent: "shelves/1", book: { isbn: 9780441478125 } });

  // @ts-expect-error: an enum value that does not exist
  await client.bookstore.createBook.mutate({ parent: "shelves/1", book: { title: "t", genre: "GENRE_FANTASY" } });

  // @ts-expect-error: an enum by number; the JSON mapping's names are the typed form
  await client.bookstore.searchBooks.query({ genres: [1] });

  // @ts-expect-error: getBook is a query (NO_SIDE_EFFECTS), so it has no .mutate
  await client.bookstore.getBook.mutate({ name: "x" });

  // @ts-expect-error: createShelf is a mutation, so it has no .query
  await client.bookstore.createShelf.query({ shelf: { theme: "x" } });

  // @ts-expect-error: watchShelf is a subscription, so it has no .query
  await client.bookstore.watchShelf.query({ name: "shelves/1" });

  // @ts-expect-error: ImportBooks is client-streaming, which tRPC does not carry
  await client.bookstore.importBooks.mutate({ parent: "shelves/1" });

  // @ts-expect-error: a field the output does not have
  void book.nmae;

  // @ts-expect-error: a snake_case name; the JSON mapping is lowerCamelCase
  void book.create_time;

  // @ts-expect-error: a procedure of another service's router
  await client.chat.getHistory.query({ room: "rooms/a" });

  // @ts-expect-error: the input of the subscription has its own type
  client.bookstore.watchShelf.subscribe({ room: "rooms/a" }, {});
}
