// The bookstore's generated browser validators (ts/validate.ts) against the running server: a bad
// CreateBook request gives the same violations in the browser as the server's tRPC error reports,
// and the zod schema's issues carry the same messages at the form fields' JSON paths; MoveBook's
// custom (CEL) rule gives the same violation in both.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";

import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";

import type { AppRouter, CreateBookRequest } from "../../../generated-examples/bookstore/src/api/ts/index.js";
import { within } from "./support/async.js";
import { REPO, startServer, type Server } from "./support/servers.js";

// As a browser ES module (tsconfig.browser.json): under this package's NodeNext settings the
// generated file, outside its "type": "module", would compile to CommonJS.
type Validators = typeof import("../../../generated-examples/bookstore/src/api/ts/validate.js");
const { CreateBookRequestSchema, MoveBookRequestSchema, violations } = (await import(
  pathToFileURL(join(REPO, "tests/node/dist/browser/generated-examples/bookstore/src/api/ts/validate.js")).href
)) as Validators;

let server: Server;
before(async () => {
  server = await startServer("bookstore-example");
});
after(async () => {
  await server?.stop();
});

interface Element {
  fieldName?: string;
  index?: string;
  stringKey?: string;
  intKey?: string;
  uintKey?: string;
  boolKey?: boolean;
}

interface WireViolation {
  field?: { elements: Element[] };
  ruleId?: string;
  message?: string;
}

/** A field path as protovalidate renders it, from its proto3 JSON form. */
function render(elements: Element[]): string {
  return elements
    .map((e) => {
      const key = e.index ?? e.intKey ?? e.uintKey ?? (e.boolKey === undefined ? undefined : String(e.boolKey));
      if (key !== undefined) return `${e.fieldName}[${key}]`;
      if (e.stringKey !== undefined) return `${e.fieldName}[${JSON.stringify(e.stringKey)}]`;
      return e.fieldName ?? "";
    })
    .join(".");
}

/** Too long a title and author, a negative ISBN, a lower-case country code. */
const BAD: CreateBookRequest = {
  parent: "shelves/1",
  book: {
    title: "x".repeat(301),
    authors: ["Ursula K. Le Guin", "é".repeat(201)],
    isbn: "-5",
    publisher: { name: "Ace", country: "usa" },
  },
};

/** The violations of a request the server refused over tRPC, from its buf.validate.Violations detail. */
function remoteViolations(err: unknown): { field: string; ruleId: string; message: string }[] {
  assert.ok(err instanceof TRPCClientError, `a TRPCClientError: ${String(err)}`);
  const data = err.data as { code?: string; details?: { "@type"?: string; violations?: WireViolation[] }[] };
  assert.equal(data.code, "BAD_REQUEST");
  const detail = data.details?.find((d) => d["@type"]?.endsWith("/buf.validate.Violations"));
  assert.ok(detail?.violations, `a buf.validate.Violations detail: ${JSON.stringify(data)}`);
  return detail.violations.map((v) => ({
    field: render(v.field?.elements ?? []),
    ruleId: v.ruleId ?? "",
    message: v.message ?? "",
  }));
}

describe("browser validators agree with the server", { timeout: 60_000 }, () => {
  test("a bad CreateBook request: the same violations in the browser and from the server", async () => {
    const local = violations(CreateBookRequestSchema, BAD);
    assert.deepEqual(local, [
      { field: "book.title", ruleId: "string.max_len", message: "must be at most 300 characters" },
      { field: "book.authors[1]", ruleId: "string.max_len", message: "must be at most 200 characters" },
      { field: "book.isbn", ruleId: "int64.gte_lte", message: "must be greater than or equal to 0 and less than or equal to 9999999999999" },
      { field: "book.publisher.country", ruleId: "string.pattern", message: "does not match regex pattern `^([A-Z]{2})?$`" },
    ]);

    const trpc = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${server.url}/trpc` })] });
    const err = await within(
      trpc.bookstore.createBook.mutate(BAD).then(
        () => undefined,
        (e: unknown) => e,
      ),
      "createBook",
    );
    assert.deepEqual(local, remoteViolations(err));
  });

  test("the zod schema reports the same messages at the fields' JSON paths", () => {
    const result = CreateBookRequestSchema.safeParse(BAD);
    assert.equal(result.success, false);
    const issues = result.error?.issues.map((i) => ({ path: i.path, message: i.message })) ?? [];
    assert.deepEqual(issues, [
      { path: ["book", "title"], message: "must be at most 300 characters" },
      { path: ["book", "authors", 1], message: "must be at most 200 characters" },
      { path: ["book", "isbn"], message: "must be greater than or equal to 0 and less than or equal to 9999999999999" },
      { path: ["book", "publisher", "country"], message: "does not match regex pattern `^([A-Z]{2})?$`" },
    ]);
  });

  test("a good request passes, and the parsed value keeps its type", () => {
    const good: CreateBookRequest = { parent: "shelves/1", book: { title: "Dune", isbn: "9780441172719" } };
    assert.deepEqual(violations(CreateBookRequestSchema, good), []);
    const parsed = CreateBookRequestSchema.parse(good);
    assert.equal(parsed.book?.title, "Dune");
  });

  test("a custom (CEL) rule: the same violation in the browser and from the server", async () => {
    const same = { name: "shelves/1/books/2", otherShelf: "shelves/1" };
    const local = violations(MoveBookRequestSchema, same);
    assert.deepEqual(local, [
      { field: "", ruleId: "move_book.other_shelf", message: "the book is already on that shelf" },
    ]);
    const trpc = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${server.url}/trpc` })] });
    const err = await within(
      trpc.bookstore.moveBook.mutate(same).then(
        () => undefined,
        (e: unknown) => e,
      ),
      "moveBook",
    );
    assert.deepEqual(local, remoteViolations(err));
    const result = MoveBookRequestSchema.safeParse(same);
    assert.deepEqual(result.error?.issues.map((i) => ({ path: i.path, message: i.message })), [
      { path: [], message: "the book is already on that shelf" },
    ]);
    assert.deepEqual(violations(MoveBookRequestSchema, { name: "shelves/1/books/2", otherShelf: "shelves/2" }), []);
  });

  test("violations() refuses a schema that is not one of the file's own", () => {
    assert.throws(() => violations(CreateBookRequestSchema.optional(), BAD), TypeError);
  });
});
