// Connect peer: @connectrpc/connect-node on node:http (HTTP/1.1), the Bookstore service from the
// descriptor set `write-descriptor-set` writes (the same schema, no generated TypeScript), GetBook
// only. `POST /bookstore.v1.Bookstore/GetBook` with a JSON body answers the book as proto3 JSON.
//   node connect.mjs --descriptors bookstore.binpb --addr 127.0.0.1:PORT

import { readFileSync } from "node:fs";
import { createServer } from "node:http";

import { createFileRegistry, fromBinary, fromJson } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

import { listen, lookup, store } from "./common.mjs";

const i = process.argv.indexOf("--descriptors");
if (i < 0) {
  console.error("usage: node connect.mjs --descriptors FILE [--addr HOST:PORT]");
  process.exit(2);
}
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(process.argv[i + 1])));
const service = registry.getService("bookstore.v1.Bookstore");
const bookSchema = registry.getMessage("bookstore.v1.Book");
const books = store((json) => fromJson(bookSchema, json));

const handler = connectNodeAdapter({
  routes: (router) =>
    router.service(service, {
      getBook(request) {
        const found = lookup(books, request.name);
        if (found.error) {
          throw new ConnectError(found.message, found.error === "not_found" ? Code.NotFound : Code.InvalidArgument);
        }
        return found.book;
      },
    }),
});

listen(createServer(handler));
