// The chat over tRPC with the generated AppRouter: postMessage (mutation), getHistory (query)
// and subscribe (a subscription over SSE), on a server without and with --token.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, type HTTPHeaders } from "@trpc/client";
import { EventSource } from "eventsource";

import type { AppRouter, ChatMessage } from "../../../generated-examples/chat/src/api/ts/index.js";
import { unique, within } from "./support/async.js";
import { startServer, TOKEN, type Server } from "./support/servers.js";
import { rejectsWithTrpc, subscribed } from "./support/trpc.js";

let server: Server;
before(async () => {
  server = await startServer("chat-example");
});
after(async () => {
  await server?.stop();
});

/** A client that sends subscriptions over SSE and everything else over httpLink. */
function chatClient(baseUrl: string, auth?: { headers?: HTTPHeaders; connectionParams?: Record<string, string> }) {
  const url = `${baseUrl}/trpc`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({ url, EventSource, connectionParams: auth?.connectionParams }),
        false: httpLink({ url, headers: auth?.headers }),
      }),
    ],
  });
}

describe("chat over tRPC", { timeout: 60_000 }, () => {
  test("postMessage numbers each room's messages from 1 and getHistory returns them, newest last", async () => {
    const trpc = chatClient(server.url);
    const room = `rooms/${unique()}`;
    const posted: ChatMessage[] = [];
    for (const text of ["one", "two", "three"]) {
      posted.push(await within(trpc.chat.postMessage.mutate({ room, author: "alice", text }), "postMessage"));
    }
    assert.deepEqual(
      posted.map((m) => [m.room, m.text, m.sequence]),
      [
        [room, "one", "1"], // uint64: a string in proto3 JSON
        [room, "two", "2"],
        [room, "three", "3"],
      ],
    );
    const history = await within(trpc.chat.getHistory.query({ room, limit: 2 }), "getHistory");
    assert.deepEqual(history.messages, posted.slice(1));
  });

  test("subscribe delivers every message posted to the room after it started, in order", async () => {
    const trpc = chatClient(server.url);
    const room = `rooms/${unique()}`;
    await within(trpc.chat.postMessage.mutate({ room, author: "alice", text: "before" }), "postMessage");

    const subscription = await subscribed<ChatMessage>(
      (callbacks) => trpc.chat.subscribe.subscribe({ room }, callbacks),
      "chat.subscribe",
    );
    let posted: ChatMessage[] = [];
    let got: ChatMessage[];
    try {
      await within(trpc.chat.postMessage.mutate({ room: `${room}-other`, author: "eve", text: "elsewhere" }), "postMessage");
      for (const [author, text] of [
        ["alice", "one"],
        ["bob", "two"],
        ["alice", "three"],
      ] as const) {
        posted.push(await within(trpc.chat.postMessage.mutate({ room, author, text }), "postMessage"));
      }
      got = await subscription.events.take(3, "three chat messages");
    } finally {
      subscription.stop();
    }
    assert.deepEqual(
      got.map((m) => [m.author, m.text, m.sequence]),
      [
        ["alice", "one", "2"],
        ["bob", "two", "3"],
        ["alice", "three", "4"],
      ],
    );
    assert.deepEqual(got, posted);
  });

  test("postMessage without its REQUIRED author is BAD_REQUEST naming the field", async () => {
    await rejectsWithTrpc(
      chatClient(server.url).chat.postMessage.mutate({ room: `rooms/${unique()}`, text: "anonymous" }),
      "BAD_REQUEST",
      400,
      "author",
    );
  });
});

describe("chat over tRPC, server started with --token", { timeout: 60_000 }, () => {
  let tokenServer: Server;
  before(async () => {
    tokenServer = await startServer("chat-example", "--token", TOKEN);
  });
  after(async () => {
    await tokenServer?.stop();
  });

  test("a call without the token, or with a wrong one, is UNAUTHORIZED (401)", async () => {
    const room = `rooms/${unique()}`;
    await rejectsWithTrpc(chatClient(tokenServer.url).chat.getHistory.query({ room }), "UNAUTHORIZED", 401);
    await rejectsWithTrpc(
      chatClient(tokenServer.url, { headers: { authorization: "Bearer wrong" } }).chat.postMessage.mutate({
        room,
        author: "mallory",
        text: "let me in",
      }),
      "UNAUTHORIZED",
      401,
    );
  });

  test("with `authorization: Bearer …` queries, mutations and (via connectionParams) subscriptions work", async () => {
    const authorization = `Bearer ${TOKEN}`;
    const trpc = chatClient(tokenServer.url, { headers: { authorization }, connectionParams: { authorization } });
    const room = `rooms/${unique()}`;
    const subscription = await subscribed<ChatMessage>(
      (callbacks) => trpc.chat.subscribe.subscribe({ room }, callbacks),
      "chat.subscribe with connectionParams",
    );
    try {
      const posted = await within(trpc.chat.postMessage.mutate({ room, author: "alice", text: "hello" }), "postMessage");
      assert.equal(posted.sequence, "1");
      assert.deepEqual(await subscription.events.take(1, "the posted message"), [posted]);
      assert.deepEqual((await within(trpc.chat.getHistory.query({ room }), "getHistory")).messages, [posted]);
    } finally {
      subscription.stop();
    }
  });
});
