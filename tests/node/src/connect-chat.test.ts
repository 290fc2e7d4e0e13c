// The chat over Connect and gRPC with @connectrpc/connect-node: PostMessage numbers messages,
// GetHistory returns them, and Subscribe streams what is posted while it runs.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import { unique, within } from "./support/async.js";
import { JsonClient, loadRegistry, openStream, service, type JsonObject } from "./support/connect.js";
import { startServer, TOKEN, type Server } from "./support/servers.js";

const Chat = service(loadRegistry("chat"), "chat.v1.Chat");

let server: Server;
let tokenServer: Server;
before(async () => {
  [server, tokenServer] = await Promise.all([startServer("chat-example"), startServer("chat-example", "--token", TOKEN)]);
});
after(async () => {
  await Promise.all([server?.stop(), tokenServer?.stop()]);
});

const TRANSPORTS: Array<{ name: string; make(baseUrl: string): { transport: Transport; close(): void } }> = [
  {
    name: "Connect, JSON, HTTP/1.1",
    make: (baseUrl) => ({
      transport: createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
      close() {},
    }),
  },
  {
    name: "gRPC, HTTP/2 (h2c)", // always HTTP/2
    make: (baseUrl) => {
      const sessionManager = new Http2SessionManager(baseUrl);
      return {
        transport: createGrpcTransport({ baseUrl, sessionManager }),
        close: () => sessionManager.abort(),
      };
    },
  },
];

for (const { name, make } of TRANSPORTS) {
  describe(`Chat over ${name}`, { timeout: 60_000 }, () => {
    let api: JsonClient;
    let close = () => {};
    before(() => {
      const made = make(server.url);
      api = new JsonClient(Chat, made.transport);
      close = made.close;
    });
    after(() => close());

    const post = (room: string, text: string, author = "alice") =>
      within(api.unary("postMessage", { room, author, text }), `PostMessage ${JSON.stringify(text)}`);

    test("PostMessage numbers each room's messages from 1, and GetHistory returns them", async () => {
      const room = `rooms/${unique()}`;
      const posted = [await post(room, "one"), await post(room, "two", "bob"), await post(`${room}-other`, "elsewhere")];
      assert.deepEqual(
        posted.map((m) => [m.room, m.author, m.text, m.sequence]),
        [
          [room, "alice", "one", "1"], // uint64 travels as a string in proto3 JSON
          [room, "bob", "two", "2"],
          [`${room}-other`, "alice", "elsewhere", "1"],
        ],
      );
      assert.match(String(posted[0]!.name), new RegExp(`^${room}/messages/.+`));

      const history = await within(api.unary("getHistory", { room, limit: 10 }), "GetHistory");
      assert.deepEqual(history.messages, posted.slice(0, 2));
    });

    test("Subscribe streams every message posted to the room after it started", async () => {
      const room = `rooms/${unique()}`;
      await post(room, "before subscribing");
      const subscription = await openStream(api, "subscribe", { room });
      let posted: JsonObject[];
      let got: JsonObject[];
      try {
        await post(`${room}-other`, "another room");
        posted = [await post(room, "one"), await post(room, "two", "bob"), await post(room, "three")];
        got = await subscription.messages.take(3, "three chat messages");
      } finally {
        await subscription.stop();
      }
      assert.deepEqual(
        got.map((m) => [m.text, m.sequence]),
        [
          ["one", "2"],
          ["two", "3"],
          ["three", "4"],
        ],
      );
      assert.deepEqual(got, posted);
    });

    test("PostMessage without its REQUIRED text is InvalidArgument naming it", async () => {
      await assert.rejects(api.unary("postMessage", { room: `rooms/${unique()}`, author: "alice" }), (err: unknown) => {
        assert.ok(err instanceof ConnectError, String(err));
        assert.equal(Code[err.code], Code[Code.InvalidArgument], err.message);
        assert.match(err.rawMessage, /text/);
        return true;
      });
    });
  });
}

describe("Chat started with --token, over Connect", { timeout: 60_000 }, () => {
  const transport = () => createConnectTransport({ baseUrl: tokenServer.url, httpVersion: "1.1", useBinaryFormat: false });

  test("a call without the token is Unauthenticated", async () => {
    const api = new JsonClient(Chat, transport());
    await assert.rejects(
      within(api.unary("postMessage", { room: `rooms/${unique()}`, author: "eve", text: "hi" }), "PostMessage"),
      (err: unknown) => err instanceof ConnectError && err.code === Code.Unauthenticated,
    );
  });

  test("with the token, unary and streaming calls work", async () => {
    const headers = { authorization: `Bearer ${TOKEN}` };
    const api = new JsonClient(Chat, transport());
    const room = `rooms/${unique()}`;
    const subscription = await openStream(api, "subscribe", { room }, { headers });
    try {
      const posted = await within(api.unary("postMessage", { room, author: "alice", text: "hello" }, { headers }), "PostMessage");
      assert.equal(posted.sequence, "1");
      assert.deepEqual(await subscription.messages.take(1, "the posted message"), [posted]);
    } finally {
      await subscription.stop();
    }
  });
});
