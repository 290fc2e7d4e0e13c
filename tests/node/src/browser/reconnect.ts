// The script of reconnect.html, run by Chromium in src/reconnect.test.ts: a chat room kept by the
// generated ApigenSocket while the test cuts the network, restarts and freezes servers.
//
// - The socket gets the WebSocket URLs of two chat instances that share Redis; a reconnection goes
//   to each in turn. Heartbeats every 300 ms find a connection that died without closing.
// - Subscribe on the room: each message becomes an <li> with its sequence and event id, so the
//   test sees every message exactly once, in order, across the drops.
// - Each state of the socket is an <li> of #states, and the current one <body data-state>.
// - window.post(text) calls PostMessage on the socket and lists the outcome in #posts: "ok", or
//   the error's code and whether it is retryable.

import type { ChatMessage, Methods } from "../../../../generated-examples/chat/src/api/ts/index.js";
import { ApigenError, ApigenSocket } from "../../../../generated-examples/chat/src/api/ts/ws.js";
import { element, param, report } from "./dom.js";

function listState(state: string): void {
  document.body.dataset.state = state;
  const item = document.createElement("li");
  item.dataset.state = state;
  item.textContent = state;
  element("states").append(item);
}

async function start(): Promise<void> {
  const room = param("room");
  const socket = await ApigenSocket.connect<Methods>(param("ws").split(","), () => ({}), {
    heartbeatMs: 300,
    reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
    onstatechange: listState,
  });
  listState(socket.state);
  socket.onclose = (code, reason) => report("socket", `closed for good: ${code} ${reason}`);
  socket.stream(
    "chat.v1.Chat/Subscribe",
    { room },
    {
      next: (message: ChatMessage, eventId?: string) => {
        const item = document.createElement("li");
        item.dataset.sequence = message.sequence ?? "";
        item.dataset.eventId = eventId ?? "";
        item.dataset.text = message.text ?? "";
        item.textContent = `#${message.sequence} ${message.author}: ${message.text}`;
        element("messages").append(item);
      },
      error: (error) => report("Subscribe", `${error.code}: ${error.message}`),
      complete: () => report("Subscribe", "completed, which a room never does"),
    },
    // From the room's start: no message is missed before the subscription is live.
    "0",
  );
  (window as unknown as { post: (text: string) => Promise<void> }).post = async (text: string) => {
    const item = document.createElement("li");
    item.dataset.text = text;
    try {
      const posted = await socket.call("chat.v1.Chat/PostMessage", { room, author: "page", text });
      item.dataset.outcome = "ok";
      item.dataset.sequence = posted.sequence ?? "";
    } catch (err) {
      item.dataset.outcome = err instanceof ApigenError ? err.code : String(err);
      item.dataset.retryable = String(err instanceof ApigenError && err.retryable);
    }
    element("posts").append(item);
  };
  document.body.dataset.ready = "true";
}

start().catch((err: unknown) => report("page", err instanceof Error ? `${err.name}: ${err.message}` : String(err)));
