// gRPC peer: @grpc/grpc-js with @grpc/proto-loader reading schemas/examples/bookstore.proto (the
// schema apigen's bookstore is generated from), GetBook only.
//   node grpc.mjs --addr 127.0.0.1:PORT

import { join } from "node:path";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

import { REPO, addr, lookup, store } from "./common.mjs";

const schemas = join(REPO, "schemas");
const definition = protoLoader.loadSync("bookstore.proto", {
  includeDirs: [join(schemas, "examples"), schemas],
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});
const bookstore = grpc.loadPackageDefinition(definition).bookstore.v1.Bookstore;

/** proto3 JSON → the plain object protobufjs encodes (wrappers and timestamps as messages). */
function toMessage(json) {
  const timestamp = (iso) => {
    const ms = Date.parse(iso);
    return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
  };
  return {
    ...json,
    subtitle: json.subtitle === undefined ? undefined : { value: json.subtitle },
    createTime: timestamp(json.createTime),
    updateTime: timestamp(json.updateTime),
  };
}

const books = store(toMessage);
const server = new grpc.Server();
server.addService(bookstore.service, {
  getBook(call, callback) {
    const found = lookup(books, call.request.name);
    if (found.error) {
      const code = found.error === "not_found" ? grpc.status.NOT_FOUND : grpc.status.INVALID_ARGUMENT;
      callback({ code, details: found.message });
      return;
    }
    callback(null, found.book);
  },
});
const { host, port } = addr();
server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => {
  if (error) {
    console.error(error.message);
    process.exit(1);
  }
  console.log(`listening on http://${host}:${bound}`);
});
