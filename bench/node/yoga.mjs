// GraphQL peer: graphql-yoga on node:http with the part of apigen's generated schema.graphql that
// GetBook reaches (same type and field names: getBook(name:) → Book, maps as {key, value} lists,
// 64-bit integers as strings), resolvers over an in-memory Map. `POST /graphql`.
//   node yoga.mjs --addr 127.0.0.1:PORT

import { createServer } from "node:http";

import { GraphQLError } from "graphql";
import { createSchema, createYoga } from "graphql-yoga";

import { listen, lookup, store } from "./common.mjs";

const typeDefs = /* GraphQL */ `
  scalar Int64
  scalar Bytes
  scalar DateTime
  enum Genre { GENRE_UNSPECIFIED GENRE_FICTION GENRE_SCIENCE GENRE_HISTORY GENRE_POETRY }
  type Publisher { name: String! country: String! }
  type Book_LabelsEntry { key: String! value: String! }
  type Book {
    name: String!
    title: String!
    authors: [String!]!
    genre: Genre!
    isbn: Int64!
    price: Float!
    subtitle: String
    labels: [Book_LabelsEntry!]!
    publisher: Publisher
    inStock: Int
    restockTime: DateTime
    outOfPrint: Boolean
    coverThumbnail: Bytes!
    createTime: DateTime
    updateTime: DateTime
  }
  type Query { getBook(name: String!): Book }
`;

/** proto3 JSON → the GraphQL object (defaults filled in, the map as entries). */
function toObject(json) {
  return {
    authors: [],
    genre: "GENRE_UNSPECIFIED",
    isbn: "0",
    price: 0,
    coverThumbnail: "",
    ...json,
    labels: Object.entries(json.labels ?? {}).map(([key, value]) => ({ key, value })),
  };
}

const books = store(toObject);
const schema = createSchema({
  typeDefs,
  resolvers: {
    Query: {
      getBook(_parent, { name }) {
        const found = lookup(books, name);
        if (found.error) {
          throw new GraphQLError(found.message, { extensions: { code: found.error.toUpperCase() } });
        }
        return found.book;
      },
    },
  },
});

listen(createServer(createYoga({ schema, graphiql: false, logging: false })));
