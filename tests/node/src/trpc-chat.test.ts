// The chat over tRPC with the generated AppRouter: postMessage (mutation), getHistory (query)
// and subscribe (a subscription over SSE whose events are tracked: `{ id, data }`, resumable
// after an id), on a server without and with --token.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, type HTTPHeaders } from "@trpc/client";
import { EventSource } from "eventsource";

import type { AppRouter, ChatMessage } from "../../../generated-examples/chat/src/api/ts/index.js";
import { explain, unique, within } from "./support/async.js";
import { startServer, TOKEN, type Server } from "./support/servers.js";
import { rejectsWithTrpc, subscribed } from "./support/trpc.js";

let server: Server;
before(async () => {
  server = await startServer("chat-example");
});
after(async () => {
  await server?.stop();
});

/** A chat message as a tracked subscription event: the id is its sequence. */
type Tracked = { id: string; data: ChatMessage };

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

    const subscription = await subscribed<Tracked>(
      (callbacks) => trpc.chat.subscribe.subscribe({ room }, callbacks),
      "chat.subscribe",
    );
    let posted: ChatMessage[] = [];
    let got: Tracked[];
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
      got.map(({ id, data }) => [id, data.author, data.text, data.sequence]),
      [
        ["2", "alice", "one", "2"],
        ["3", "bob", "two", "3"],
        ["4", "alice", "three", "4"],
      ],
    );
    assert.deepEqual(
      got.map((event) => event.data),
      posted,
    );
  });

  test("subscribe with a lastEventId replays exactly the messages after it, then goes on live", async () => {
    const trpc = chatClient(server.url);
    const room = `rooms/${unique()}`;
    const posted: ChatMessage[] = [];
    for (const text of ["one", "two", "three"]) {
      posted.push(await within(trpc.chat.postMessage.mutate({ room, author: "alice", text }), "postMessage"));
    }
    const subscription = await subscribed<Tracked>(
      (callbacks) => trpc.chat.subscribe.subscribe({ room, lastEventId: "1" }, callbacks),
      "chat.subscribe after 1",
    );
    try {
      const replayed = await subscription.events.take(2, "the two messages after 1");
      assert.deepEqual(replayed, [
        { id: "2", data: posted[1] },
        { id: "3", data: posted[2] },
      ]);
      const live = await within(trpc.chat.postMessage.mutate({ room, author: "bob", text: "four" }), "postMessage");
      const all = await subscription.events.take(3, "the live message after the replay");
      assert.deepEqual(all[2], { id: "4", data: live });
    } finally {
      subscription.stop();
    }
  });

  test("a lastEventId past the newest message fails the subscription with BAD_REQUEST (OUT_OF_RANGE)", async () => {
    const trpc = chatClient(server.url);
    const room = `rooms/${unique()}`;
    await within(trpc.chat.postMessage.mutate({ room, author: "alice", text: "only" }), "postMessage");
    const subscription = await subscribed<Tracked>(
      (callbacks) => trpc.chat.subscribe.subscribe({ room, lastEventId: "9" }, callbacks),
      "chat.subscribe after 9",
    );
    try {
      await assert.rejects(subscription.events.take(1, "the error"), (err: Error) => {
        const cause = err.cause as { data?: { code?: string; grpcCode?: string }; message?: string };
        assert.equal(cause?.data?.code, "BAD_REQUEST", explain(err));
        assert.equal(cause?.data?.grpcCode, "out_of_range", explain(err));
        assert.match(cause?.message ?? "", /after message 9/);
        return true;
      });
    } finally {
      subscription.stop();
    }
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
    const subscription = await subscribed<Tracked>(
      (callbacks) => trpc.chat.subscribe.subscribe({ room }, callbacks),
      "chat.subscribe with connectionParams",
    );
    try {
      const posted = await within(trpc.chat.postMessage.mutate({ room, author: "alice", text: "hello" }), "postMessage");
      assert.equal(posted.sequence, "1");
      assert.deepEqual(await subscription.events.take(1, "the posted message"), [{ id: "1", data: posted }]);
      assert.deepEqual((await within(trpc.chat.getHistory.query({ room }), "getHistory")).messages, [posted]);
    } finally {
      subscription.stop();
    }
  });
});
