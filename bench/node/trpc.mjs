// tRPC peer: @trpc/server's standalone adapter, procedure `bookstore.getBook` (a query) under
// /trpc/, so `GET /trpc/bookstore.getBook?input={"name":…}` answers `{"result":{"data":book}}`,
// as apigen's tRPC does. No transformer, as in apigen.
//   node trpc.mjs --addr 127.0.0.1:PORT

import { initTRPC, TRPCError } from "@trpc/server";
import { createHTTPServer } from "@trpc/server/adapters/standalone";

import { listen, lookup, store } from "./common.mjs";

const books = store();
const t = initTRPC.create();
const router = t.router({
  bookstore: t.router({
    getBook: t.procedure
      .input((raw) => {
        if (typeof raw !== "object" || raw === null || typeof raw.name !== "string") {
          throw new Error("missing required field `name`");
        }
        return { name: raw.name };
      })
      .query(({ input }) => {
        const found = lookup(books, input.name);
        if (found.error) {
          throw new TRPCError({ code: found.error === "not_found" ? "NOT_FOUND" : "BAD_REQUEST", message: found.message });
        }
        return found.book;
      }),
  }),
});

listen(createHTTPServer({ router, basePath: "/trpc/" }));
