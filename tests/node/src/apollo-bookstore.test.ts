// The bookstore's GraphQL endpoint called with @apollo/client: Automatic Persisted Queries through
// PersistedQueryLink (hashes over GET for queries) and HttpLink on Node's fetch. Every request is
// recorded, so the tests show what went over the wire: a first hash-only GET answered
// PersistedQueryNotFound, the link's retry with the query (which registers it), then one hash-only
// GET per identical query. And the CSRF rule every GET is held to.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { ApolloClient, gql, HttpLink, InMemoryCache } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

import { within } from "./support/async.js";
import { startServer, type Server } from "./support/servers.js";

let server: Server;
before(async () => {
  server = await startServer("bookstore-example");
});
after(async () => {
  await server?.stop();
});

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** One request the client made, and the answer it got. */
interface Exchange {
  method: string;
  url: URL;
  headers: Headers;
  /** The POST body as JSON; undefined for GET. */
  body: Record<string, unknown> | undefined;
  status: number;
  answer: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
}

/** Node's fetch, recording each request and its (JSON) answer. */
function recordingFetch(): { fetch: typeof fetch; exchanges: Exchange[] } {
  const exchanges: Exchange[] = [];
  const recording: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    exchanges.push({
      method: init?.method ?? "GET",
      url: new URL(String(input)),
      headers: new Headers(init?.headers),
      body: typeof init?.body === "string" ? (JSON.parse(init.body) as Record<string, unknown>) : undefined,
      status: response.status,
      answer: (await response.clone().json()) as Exchange["answer"],
    });
    return response;
  };
  return { fetch: recording, exchanges };
}

/** An Apollo client with APQ, hashed queries over GET, and the header CSRF prevention asks for. */
function apolloClient(fetcher: typeof fetch): ApolloClient {
  const persisted = new PersistedQueryLink({ sha256, useGETForHashedQueries: true });
  // Apollo Client sends `content-type: application/json` on its GETs too, which passes the rule
  // already; Apollo's docs still advise this header, which does not depend on that habit.
  const headers = { "apollo-require-preflight": "true" };
  const http = new HttpLink({ uri: `${server.url}/graphql`, fetch: fetcher, headers });
  return new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
}

/** The persistedQuery extension a GET's `extensions` parameter or a POST's body carries. */
function persistedQuery(exchange: Exchange): unknown {
  const extensions = exchange.body?.extensions ?? JSON.parse(exchange.url.searchParams.get("extensions") ?? "{}");
  return (extensions as { persistedQuery?: unknown }).persistedQuery;
}

const GET_SHELF = gql`
  query GetShelf($name: String!) {
    getShelf(name: $name) {
      name
      theme
    }
  }
`;
const CREATE_SHELF = gql`
  mutation CreateShelf($theme: String!) {
    createShelf(shelf: { theme: $theme }) {
      name
    }
  }
`;

describe("Apollo Client with automatic persisted queries", { timeout: 60_000 }, () => {
  test("a query registers on its first run, then travels as one hash-only GET", async () => {
    const recorder = recordingFetch();
    const client = apolloClient(recorder.fetch);
    const created = await within(client.mutate({ mutation: CREATE_SHELF, variables: { theme: "Hashed" } }), "create");
    const name = (created.data as { createShelf: { name: string } }).createShelf.name;
    // A mutation is never a GET: its hash alone by POST, unknown, then the retry with its query.
    assert.deepEqual(
      recorder.exchanges.map((e) => [e.method, e.body?.query === undefined, e.answer.errors?.[0]?.extensions?.code]),
      [
        ["POST", true, "PERSISTED_QUERY_NOT_FOUND"],
        ["POST", false, undefined],
      ],
    );
    recorder.exchanges.length = 0;

    // no-cache: every query goes to the server, none is answered from Apollo's cache.
    const getShelf = (apollo: ApolloClient) =>
      apollo.query({ query: GET_SHELF, variables: { name }, fetchPolicy: "no-cache" });
    const first = await within(getShelf(client), "getShelf");
    assert.deepEqual(first.data, { getShelf: { __typename: "Shelf", name, theme: "Hashed" } });
    const [miss, register, ...rest] = recorder.exchanges;
    assert.ok(miss && register, `two requests, got ${recorder.exchanges.length}`);
    assert.equal(rest.length, 0);

    // 1. The hash alone, by GET: no `query` parameter, and the server does not know it yet.
    assert.equal(miss.method, "GET");
    assert.equal(miss.url.pathname, "/graphql");
    assert.equal(miss.url.searchParams.has("query"), false, `no query in ${miss.url}`);
    assert.equal(miss.url.searchParams.get("operationName"), "GetShelf");
    assert.deepEqual(JSON.parse(miss.url.searchParams.get("variables") ?? "null"), { name });
    assert.equal(miss.headers.get("apollo-require-preflight"), "true");
    assert.equal(miss.headers.get("content-type"), "application/json");
    assert.equal(miss.status, 200);
    assert.deepEqual(miss.answer, {
      errors: [{ message: "PersistedQueryNotFound", extensions: { code: "PERSISTED_QUERY_NOT_FOUND" } }],
    });
    const hash = (persistedQuery(miss) as { sha256Hash: string }).sha256Hash;
    assert.deepEqual(persistedQuery(miss), { version: 1, sha256Hash: hash });

    // 2. The link's retry: the query with its hash, by POST; the server checks, keeps and runs it.
    assert.equal(register.method, "POST");
    assert.equal(typeof register.body?.query, "string");
    assert.equal(sha256(register.body!.query as string), hash, "the hash is the query's SHA-256");
    assert.deepEqual(persistedQuery(register), { version: 1, sha256Hash: hash });
    assert.deepEqual(register.answer.data, first.data);

    // 3. The same query again: one GET with the hash alone, answered from the stored document.
    recorder.exchanges.length = 0;
    const second = await within(getShelf(client), "getShelf again");
    assert.deepEqual(second.data, first.data);
    assert.equal(recorder.exchanges.length, 1, `one request, got ${recorder.exchanges.map((e) => e.method)}`);
    const [hit] = recorder.exchanges;
    assert.equal(hit!.method, "GET");
    assert.equal(hit!.url.searchParams.has("query"), false, `no query in ${hit!.url}`);
    assert.deepEqual(persistedQuery(hit!), { version: 1, sha256Hash: hash });
    assert.equal(hit!.status, 200);
    assert.deepEqual(hit!.answer.data, first.data);

    // Another client (a fresh page) finds the hash on the server at once.
    const other = recordingFetch();
    const again = await within(getShelf(apolloClient(other.fetch)), "getShelf from another client");
    assert.deepEqual(again.data, first.data);
    assert.deepEqual(other.exchanges.map((e) => [e.method, e.url.searchParams.has("query")]), [["GET", false]]);
  });

  test("a GET without a preflight header is refused as a possible CSRF", async () => {
    // What a page elsewhere can make a browser send: no custom header, no JSON content type.
    const url = `${server.url}/graphql?query=${encodeURIComponent("{ listShelves { nextPageToken } }")}`;
    const refused = await within(fetch(url), "a plain GET");
    assert.equal(refused.status, 400);
    const body = (await refused.json()) as Exchange["answer"];
    assert.match(body.errors?.[0]?.message ?? "", /CSRF.*apollo-require-preflight/s);
    const accepted = await within(fetch(url, { headers: { "apollo-require-preflight": "true" } }), "with the header");
    assert.equal(accepted.status, 200);
    assert.deepEqual(await accepted.json(), { data: { listShelves: { nextPageToken: "" } } });
  });
});
