// The bookstore as an Apollo Federation 2 subgraph: @apollo/composition composes its `_service`
// SDL with a second subgraph that extends `Book` with reviews, and @apollo/gateway serves queries
// that cross both. The gateway's requests to the bookstore are recorded: every book a query
// needs comes from one `_entities` request, which the bookstore loads with one batch call.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { composeServices } from "@apollo/composition";
import { ApolloGateway, LocalGraphQLDataSource, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";

import { startServer, type Server } from "./support/servers.js";

let server: Server;
before(async () => {
  server = await startServer("bookstore-example");
});
after(async () => {
  await server?.stop();
});

/** POST a GraphQL request to the bookstore and return its `data`. */
async function bookstore(query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown[] };
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

/** Reviews, a subgraph of its own that adds `reviews` to the bookstore's `Book`. */
const REVIEWS_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
  type Review { stars: Int! text: String! book: Book! }
  type Book @key(fields: "name") { name: String! reviews: [Review!]! }
  type Query { topReviews: [Review!]! }
`;

function reviewsSchema(books: string[]) {
  const reviews = books.flatMap((name, i) => [
    { stars: 5 - (i % 3), text: `review ${i}a`, book: name },
    { stars: 3, text: `review ${i}b`, book: name },
  ]);
  return buildSubgraphSchema({
    typeDefs: parse(REVIEWS_SDL),
    resolvers: {
      Query: { topReviews: () => reviews.map((r) => ({ ...r, book: { __typename: "Book", name: r.book } })) },
      Book: {
        __resolveReference: (book: { name: string }) => book,
        reviews: (book: { name: string }) =>
          reviews.filter((r) => r.book === book.name).map((r) => ({ ...r, book: { __typename: "Book", name: r.book } })),
      },
    } as any,
  });
}

describe("Apollo Federation", { timeout: 60_000 }, () => {
  test("composition and a gateway join another subgraph onto the bookstore's books in one _entities call", async () => {
    // Stock: two shelves, three books, shared authors.
    const shelves: string[] = [];
    const books: string[] = [];
    for (const theme of ["Federated A", "Federated B"]) {
      const shelf = await bookstore("mutation($s: ShelfInput!) { createShelf(shelf: $s) { name } }", { s: { theme } });
      shelves.push(shelf.createShelf.name);
    }
    for (const [i, title] of ["Kindred", "Dawn", "Parable"].entries()) {
      const created = await bookstore("mutation($p: String!, $b: BookInput!) { createBook(parent: $p, book: $b) { name } }", {
        p: shelves[i % 2],
        b: { title, authors: ["Octavia E. Butler"] },
      });
      books.push(created.createBook.name);
    }

    const { _service } = await bookstore("{ _service { sdl } }");
    const composed = composeServices([
      { name: "bookstore", typeDefs: parse(_service.sdl), url: `${server.url}/graphql` },
      { name: "reviews", typeDefs: parse(REVIEWS_SDL), url: "local://reviews" },
    ]);
    assert.deepEqual(composed.errors ?? [], [], "the bookstore composes with another subgraph");
    assert.ok(composed.supergraphSdl, "a supergraph");

    const sent: { query: string; variables: any }[] = [];
    const gateway = new ApolloGateway({
      supergraphSdl: composed.supergraphSdl!,
      buildService: ({ name, url }) => {
        if (name === "reviews") return new LocalGraphQLDataSource(reviewsSchema(books));
        return new (class extends RemoteGraphQLDataSource {
          override willSendRequest({ request }: { request: { query?: string; variables?: any } }) {
            sent.push({ query: request.query ?? "", variables: request.variables });
          }
        })({ url: url! });
      },
    });
    const apollo = new ApolloServer({ gateway });
    await apollo.start();
    try {
      // Starts in reviews, crosses into the bookstore for every review's book.
      const crossing = await apollo.executeOperation({
        query: "{ topReviews { stars book { name title shelfDetails { theme } authorDetails { name bookCount } } } }",
      });
      assert.equal(crossing.body.kind, "single");
      const result = (crossing.body as any).singleResult;
      assert.equal(result.errors, undefined, JSON.stringify(result.errors));
      const reviews = result.data.topReviews as any[];
      assert.equal(reviews.length, 6);
      for (const review of reviews) {
        assert.ok(books.includes(review.book.name), review.book.name);
        assert.equal(review.book.authorDetails[0].name, "Octavia E. Butler");
        assert.ok(review.book.shelfDetails.theme.startsWith("Federated"), JSON.stringify(review.book));
      }
      assert.deepEqual(reviews.map((r) => r.book.title).slice(0, 2), ["Kindred", "Kindred"]);
      const entityCalls = sent.filter((s) => s.query.includes("_entities"));
      assert.equal(entityCalls.length, 1, `one _entities request for six reviews' books: ${JSON.stringify(sent)}`);
      // One representation per review; the bookstore loads the three distinct books in one
      // BatchGetBooks call (counted in generated-examples/bookstore/tests/relations.rs).
      const representations = entityCalls[0]!.variables.representations as { name: string }[];
      assert.equal(representations.length, 6);
      assert.equal(new Set(representations.map((r) => r.name)).size, 3);

      // Starts in the bookstore, crosses into reviews.
      sent.length = 0;
      const back = await apollo.executeOperation({
        query: `{ getShelf(name: "${shelves[0]}") { theme books { title reviews { stars text } } } }`,
      });
      const data = (back.body as any).singleResult;
      assert.equal(data.errors, undefined, JSON.stringify(data.errors));
      assert.deepEqual(
        data.data.getShelf.books.map((b: any) => [b.title, b.reviews.length]),
        [
          ["Kindred", 2],
          ["Parable", 2],
        ],
      );
      assert.equal(sent.length, 1, "one bookstore request: the shelf, its books through a relation");
    } finally {
      await apollo.stop();
    }
  });
});
