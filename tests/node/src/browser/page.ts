// The script of page.html, run by Chromium in src/browser.test.ts: what a web app written against
// apigen's servers does with nothing but the platform and the generated browser client.
//
// - WatchShelf through the browser's own EventSource, twice: on its REST binding
//   (`GET /v1/{name=shelves/*}:watch`, which answers Server-Sent Events to `Accept:
//   text/event-stream`) and on `/sse/bookstore.v1.Bookstore/WatchShelf?name=…`. Each ShelfEvent
//   becomes an <li> with its SSE id; the stream's final `end` event is recorded on the list. The
//   page deliberately does not close the EventSource on `end` (an app would), so that the test
//   sees what the browser does next: reconnect with `Last-Event-ID: end`, which the server
//   answers 204, which closes the EventSource for good.
// - chat Converse over the apigen.v1 WebSocket with the generated ApigenSocket, typed by the
//   generated `Methods`: the first request names the room, the form sends more with the call's
//   `send`, and every ChatMessage that comes back becomes an <li>.
//
// What the test reads is in data-* attributes; failures are listed in #errors.

import type { ShelfEvent } from "../../../../generated-examples/bookstore/src/api/ts/index.js";
import type { ChatMessage, Methods } from "../../../../generated-examples/chat/src/api/ts/index.js";
import { ApigenSocket } from "../../../../generated-examples/chat/src/api/ts/ws.js";
import { element, param, report } from "./dom.js";

/** The parts still starting; the body gets data-ready="true" when none is left. */
const starting = new Set(["watch-rest", "watch-sse", "chat"]);
function started(part: string): void {
  starting.delete(part);
  if (starting.size === 0) document.body.dataset.ready = "true";
}

const STATES = ["connecting", "open", "closed"] as const;

/** Watches `url` with an EventSource and lists its events in the <ol id={id}>. */
function watch(id: string, url: string): void {
  const list = element<HTMLOListElement>(id);
  const source = new EventSource(url);
  list.dataset.url = url;
  list.dataset.opens = "0";
  const state = () => {
    list.dataset.state = STATES[source.readyState] ?? String(source.readyState);
  };
  state();
  source.onopen = () => {
    state();
    list.dataset.opens = String(Number(list.dataset.opens) + 1);
    started(id);
  };
  // Fired when the connection drops (the browser then reconnects on its own) or is refused.
  source.onerror = state;
  source.onmessage = (event: MessageEvent<string>) => {
    const shelfEvent = JSON.parse(event.data) as ShelfEvent;
    const item = document.createElement("li");
    item.dataset.id = event.lastEventId;
    item.dataset.kind = shelfEvent.kind ?? "";
    item.dataset.book = shelfEvent.book?.name ?? "";
    item.dataset.title = shelfEvent.book?.title ?? "";
    item.textContent = `${shelfEvent.kind}: “${shelfEvent.book?.title}” (${shelfEvent.book?.name})`;
    list.append(item);
  };
  // apigen's last event of a stream: `event: end`, `id: end`, the error or `{}` as data.
  source.addEventListener("end", (event: MessageEvent<string>) => {
    list.dataset.end = event.data;
    list.dataset.endId = event.lastEventId;
  });
}

/** Opens Converse on `chatBase`'s /ws: `first` names the room; the form sends the rest. */
async function converse(chatBase: string, room: string, author: string, text: string): Promise<void> {
  const list = element<HTMLOListElement>("chat");
  const url = new URL("/ws", chatBase);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = await ApigenSocket.connect<Methods>(url.href);
  socket.onclose = (code, reason) => {
    list.dataset.closed = `${code} ${reason}`;
  };
  const call = socket.bidi(
    "chat.v1.Chat/Converse",
    {
      next: (message: ChatMessage) => {
        const item = document.createElement("li");
        item.dataset.sequence = message.sequence ?? "";
        item.dataset.name = message.name ?? "";
        item.dataset.room = message.room ?? "";
        item.dataset.author = message.author ?? "";
        item.dataset.text = message.text ?? "";
        item.textContent = `#${message.sequence} ${message.author}: ${message.text}`;
        list.append(item);
      },
      error: (error) => report("Converse", `${error.code}: ${error.message}`),
      complete: () => {
        list.dataset.complete = "true";
      },
    },
    { room, author, text },
  );
  const input = element<HTMLInputElement>("text");
  element<HTMLFormElement>("say").addEventListener("submit", (event) => {
    event.preventDefault();
    // Later requests may leave the room empty: the conversation is in the first one's room.
    call.send({ author, text: input.value });
    input.value = "";
  });
  list.dataset.url = url.href;
  started("chat");
}

try {
  const bookstore = param("bookstore");
  const shelf = param("shelf");
  watch("watch-rest", `${bookstore}/v1/${shelf}:watch`);
  watch("watch-sse", `${bookstore}/sse/bookstore.v1.Bookstore/WatchShelf?${new URLSearchParams({ name: shelf })}`);
  converse(param("chat"), param("room"), param("author"), param("text")).catch((err: unknown) => {
    report("Converse", err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  });
} catch (err) {
  report("page", err instanceof Error ? err.message : String(err));
}
