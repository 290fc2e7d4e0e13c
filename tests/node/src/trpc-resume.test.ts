// @trpc/client's httpSubscriptionLink resumes a chat subscription on another instance: two chat
// instances share a private redis-server behind a failover proxy (support/failover.ts), the
// client subscribes through it, and the test stops the instance the subscription is on while
// messages are posted. The stream's events are tracked (`{ id, data }`), so the link reconnects
// with the last id it saw and gets every message exactly once, in order.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink } from "@trpc/client";
import { EventSource } from "eventsource";

import type { AppRouter, ChatMessage } from "../../../generated-examples/chat/src/api/ts/index.js";
import { explain, unique, within } from "./support/async.js";
import { failover, type Failover } from "./support/failover.js";
import { freePort, startRedis, startServerOn, type Server } from "./support/servers.js";
import { subscribed } from "./support/trpc.js";

let redis: Server;
const chats: { addr: string; server?: Server }[] = [];
let proxy: Failover;

async function startChat(i: number): Promise<void> {
  const chat = chats[i]!;
  chat.server = await startServerOn("chat-example", chat.addr, "--redis", redis.url);
}

before(async () => {
  redis = await startRedis();
  for (let i = 0; i < 2; i++) chats.push({ addr: `127.0.0.1:${await freePort()}` });
  await Promise.all([startChat(0), startChat(1)]);
  proxy = await failover(chats.map((c) => `http://${c.addr}`));
});

after(async () => {
  await proxy?.close();
  const stops = chats.map((c) => c.server?.stop() ?? Promise.resolve());
  const results = await Promise.allSettled([...stops]);
  results.push(...(await Promise.allSettled([redis?.stop() ?? Promise.resolve()])));
  const errors = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
  if (errors.length > 0) throw new AggregateError(errors, `stopping: ${errors.map(explain).join("; ")}`);
});

describe("httpSubscriptionLink resumes on the other instance", { timeout: 60_000 }, () => {
  test("the instance under a subscription stops: the link reconnects with its last id and misses nothing", async () => {
    const url = `${proxy.url}/trpc`;
    const trpc = createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url, EventSource }),
          false: httpLink({ url }),
        }),
      ],
    });
    // Posts go straight to an instance that stays up.
    const poster = createTRPCClient<AppRouter>({ links: [httpLink({ url: `http://${chats[1]!.addr}/trpc` })] });
    const room = `rooms/${unique()}`;
    const post = (text: string) => within(poster.chat.postMessage.mutate({ room, author: "node", text }), `posting ${text}`);
    const subscription = await subscribed<{ id: string; data: ChatMessage }>(
      (callbacks) => trpc.chat.subscribe.subscribe({ room, lastEventId: "0" }, callbacks),
      "chat.subscribe through the proxy",
    );
    try {
      await post("one");
      await post("two");
      await subscription.events.take(2, "the first two messages");
      // The proxy sent the subscription to instance 0, the first that accepts.
      await chats[0]!.server!.stop();
      await post("three");
      await post("four");
      const all = await subscription.events.take(4, "the messages posted while the link reconnected");
      await post("five");
      const events = await subscription.events.take(5, "the live message after the reconnect");
      assert.deepEqual(
        events.map(({ id, data }) => [id, data.sequence, data.text]),
        [
          ["1", "1", "one"],
          ["2", "2", "two"],
          ["3", "3", "three"],
          ["4", "4", "four"],
          ["5", "5", "five"],
        ],
        `every message once, in order (after the stop: ${JSON.stringify(all.slice(2))})`,
      );
      assert.ok(
        subscription.states.some((s) => s.state === "connecting" && s.error !== null),
        `the link went back to connecting after the stop: ${JSON.stringify(subscription.states)}`,
      );
    } finally {
      subscription.stop();
      // Instance 0 again, for the `after` hook to stop.
      await startChat(0);
    }
  });
});
