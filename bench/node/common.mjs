// What the Node.js peers share: the seeded book (bench/serve/book.json with the name, shelf and
// timestamps the server sets), GetBook's lookup in an in-memory Map, `--addr HOST:PORT`, and
// the `listening on http://ADDR` line bench/serve/run.sh waits for.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = join(HERE, "../..");
export const BOOK_NAME = "shelves/1/books/1";

/** The seeded book as proto3 JSON (what REST, Connect and tRPC answer). */
export function seedBookJson() {
  const book = JSON.parse(readFileSync(join(HERE, "../serve/book.json"), "utf8"));
  const now = new Date().toISOString();
  return { name: BOOK_NAME, ...book, createTime: now, updateTime: now, shelf: "shelves/1" };
}

/** A Map of name → book, holding one book built by `make` from the seeded JSON. */
export function store(make = (json) => json) {
  return new Map([[BOOK_NAME, make(seedBookJson())]]);
}

/** Host and port of `--addr HOST:PORT` (default 127.0.0.1:0). */
export function addr() {
  const i = process.argv.indexOf("--addr");
  const value = i >= 0 ? process.argv[i + 1] : "127.0.0.1:0";
  const at = value?.lastIndexOf(":") ?? -1;
  if (at < 0) {
    console.error(`usage: node ${process.argv[1]} [--addr HOST:PORT]`);
    process.exit(2);
  }
  return { host: value.slice(0, at), port: Number(value.slice(at + 1)) };
}

/** Prints the readiness line once `server` (a node:http server) listens. */
export function listen(server) {
  const { host, port } = addr();
  server.listen(port, host, () => {
    const a = server.address();
    console.log(`listening on http://${a.address}:${a.port}`);
  });
}

/** The bookstore's name check: INVALID_ARGUMENT for a malformed name, NOT_FOUND for a missing one. */
export function lookup(books, name) {
  if (typeof name !== "string" || !/^shelves\/[^/]+\/books\/[^/]+$/.test(name)) {
    return { error: "invalid_argument", message: `\`name\` must be a book name like \`shelves/1/books/2\`, not \`${name}\`` };
  }
  const book = books.get(name);
  return book ? { book } : { error: "not_found", message: `book \`${name}\` does not exist` };
}
