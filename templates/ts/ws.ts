// A browser client of apigen's WebSocket subprotocol `apigen.v1` (GET /ws): JSON text frames,
// many calls on one socket, every method kind. No dependencies: the platform's WebSocket and JSON.
//
//   const socket = await ApigenSocket.connect<Methods>("ws://localhost:8080/ws", { authorization: "Bearer …" });
//   const shelf = await socket.call("bookstore.v1.Bookstore/GetShelf", { name: "shelves/1" });
//   const stop = socket.stream("bookstore.v1.Bookstore/WatchShelf", { name: "shelves/1" }, { next: (e) => … });
//
// `Methods` maps "package.Service/Method" to `{ input; output }` (the proto3 JSON types); without
// it, payloads are `unknown`. Errors are `ApigenError`s whose `code` is the status name
// ("not_found", …).
//
// The socket reconnects on its own after a drop, a server restart or a 1001/1012 close, with
// jittered exponential backoff, sending `connection_init` again (with fresh credentials when
// `metadata` is a function). Server streams survive it: each is subscribed again after the last
// event id it saw, so a resumable stream goes on with nothing lost and nothing repeated. Unary,
// client-streaming and bidi calls in flight fail with a retryable "unavailable" error instead:
// the client never sends a request twice on its own. A heartbeat finds a connection that died
// without closing. `state` and `onstatechange` show where the socket is, for a UI.

/** The subprotocol the server speaks at /ws. */
export const SUBPROTOCOL = "apigen.v1";

/** Method name → request and response types. */
export type MethodMap = Record<string, { input: unknown; output: unknown }>;

/** A call's error: `code` is the status name, for example "not_found". */
export class ApigenError extends Error {
  readonly code: string;
  /** The call may succeed if made again (the connection dropped, or the server was unavailable). */
  readonly retryable: boolean;

  constructor(code: string, message: string, retryable = code === "unavailable") {
    super(message);
    this.name = "ApigenError";
    this.code = code;
    this.retryable = retryable;
  }
}

/** What a stream reports: each response (with its event id when the stream is resumable), then
 * either `complete` or `error`, once. */
export interface Observer<T> {
  next?: (message: T, eventId?: string) => void;
  error?: (error: ApigenError) => void;
  complete?: () => void;
}

/** The request side of a client-streaming or bidi call. */
export interface RequestSink<I> {
  /** Sends one more request message. */
  send(payload: I): void;
  /** Ends the requests; responses keep coming until the server completes the call. */
  end(): void;
  /** Aborts the call: nothing more is sent or reported. */
  cancel(): void;
}

/** A client-streaming call: send requests, `end()`, then `result` settles with the one response. */
export interface ClientStreamCall<I, O> extends RequestSink<I> {
  readonly result: Promise<O>;
}

/** Where the socket is: `open` carries calls; `reconnecting` waits to try again. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** `connection_init`'s payload, or a function that gives it at each (re)connection. */
export type Metadata = Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);

export interface ReconnectOptions {
  /** The first delay in milliseconds (default 500); it doubles with each failed attempt. */
  initialDelayMs?: number;
  /** The longest delay (default 30 000). Each delay is jittered down to half of itself. */
  maxDelayMs?: number;
  /** Attempts in a row before the socket gives up and closes (default: no limit). */
  maxAttempts?: number;
}

export interface ConnectOptions {
  /** How long to wait for `connection_ack`, in milliseconds (default 10 000). */
  timeoutMs?: number;
  /** Reconnect after a drop (default true); `false`: a drop closes the socket for good. */
  reconnect?: boolean | ReconnectOptions;
  /** With nothing from the server for this long the client pings, and after twice as long it
   * takes the connection for dead and reconnects (milliseconds, default 15 000; 0: never). */
  heartbeatMs?: number;
  /** Told every change of `state`. */
  onstatechange?: (state: ConnectionState) => void;
}

interface Frame {
  type: string;
  id?: string;
  payload?: unknown;
  eventId?: unknown;
  method?: string;
  lastEventId?: string;
}

interface Listener {
  next(payload: unknown, eventId?: string): void;
  error(error: ApigenError): void;
  complete(): void;
}

/** A running call. A server stream is kept across reconnections; other calls are not. */
interface Call {
  events: Listener;
  /** Set for a server stream: subscribed again after a drop, after `lastEventId`. */
  stream?: Stream | undefined;
}

interface Stream {
  method: string;
  payload: unknown;
  lastEventId?: string | undefined;
  /** The connection it is subscribed on; none while it waits to be subscribed again. */
  on?: WebSocket | undefined;
}

function parse(data: unknown): Frame | undefined {
  if (typeof data !== "string") return undefined;
  try {
    const frame: unknown = JSON.parse(data);
    if (typeof frame === "object" && frame !== null && typeof (frame as Frame).type === "string") {
      return frame as Frame;
    }
  } catch {
    // Not JSON: nothing the protocol sends.
  }
  return undefined;
}

function errorFrom(payload: unknown): ApigenError {
  const p = (typeof payload === "object" && payload !== null ? payload : {}) as { code?: unknown; message?: unknown };
  return new ApigenError(typeof p.code === "string" ? p.code : "unknown", typeof p.message === "string" ? p.message : "");
}

function closeError(code: number, reason: string): ApigenError {
  if (code === 4401) return new ApigenError("unauthenticated", reason || "the server refused the credentials");
  return new ApigenError("unavailable", `the WebSocket closed (${code})${reason ? `: ${reason}` : ""}`);
}

/** Closes after which reconnecting cannot help: refused credentials, or a client the server
 * found broken (a malformed frame, an id reused while its call runs). */
const FINAL_CLOSES = new Set([1000, 1002, 1003, 1007, 1008, 1009, 1010, 4400, 4401, 4409]);

/** One socket to a server's /ws, carrying any number of concurrent calls. */
export class ApigenSocket<M extends MethodMap = MethodMap> {
  /** Called once when the socket closes for good, with its close code and reason. */
  onclose: ((code: number, reason: string) => void) | undefined;
  /** Told every change of `state`. */
  onstatechange: ((state: ConnectionState) => void) | undefined;

  private readonly calls = new Map<string, Call>();
  private lastId = 0;
  private closed: ApigenError | undefined;
  private ws: WebSocket | undefined;
  private current: ConnectionState = "connecting";
  private attempts = 0;
  private heard = Date.now();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly retry: Required<ReconnectOptions> | undefined;

  private constructor(
    private readonly urls: string[],
    private readonly metadata: Metadata,
    private readonly options: ConnectOptions,
  ) {
    const reconnect = options.reconnect ?? true;
    this.retry =
      reconnect === false
        ? undefined
        : {
            initialDelayMs: 500,
            maxDelayMs: 30_000,
            maxAttempts: Number.POSITIVE_INFINITY,
            ...(reconnect === true ? {} : reconnect),
          };
    this.onstatechange = options.onstatechange;
  }

  /**
   * Opens `url` (`ws://host:port/ws`; with several, reconnections go to each in turn) and sends
   * `metadata` (for example `authorization`) in `connection_init`; resolves once the server
   * acknowledges it, and rejects when the first connection fails.
   */
  static async connect<M extends MethodMap = MethodMap>(
    url: string | string[],
    metadata: Metadata = {},
    options: ConnectOptions = {},
  ): Promise<ApigenSocket<M>> {
    const urls = typeof url === "string" ? [url] : [...url];
    if (urls.length === 0) throw new ApigenError("invalid_argument", "connect needs a URL");
    const socket = new ApigenSocket<M>(urls, metadata, options);
    try {
      await socket.open();
    } catch (error) {
      socket.finish(error instanceof ApigenError ? error : new ApigenError("unavailable", String(error)), 1006, "");
      throw error;
    }
    return socket;
  }

  /** Where the socket is now. */
  get state(): ConnectionState {
    return this.current;
  }

  /** Calls a unary method: its one response. */
  call<K extends keyof M & string>(method: K, payload: M[K]["input"]): Promise<M[K]["output"]> {
    return new Promise((resolve, reject) => {
      let response: { value: M[K]["output"] } | undefined;
      this.start(method, payload, {
        next: (value) => {
          response = { value: value as M[K]["output"] };
        },
        error: reject,
        complete: () => {
          if (response) resolve(response.value);
          else reject(new ApigenError("internal", `${method} completed without a response`));
        },
      });
    });
  }

  /**
   * Calls a server-streaming method; returns a function that cancels the call. The stream
   * outlives reconnections: it is subscribed again after the last event id it saw, or
   * `lastEventId` when it saw none (to resume a stream an earlier page left).
   */
  stream<K extends keyof M & string>(
    method: K,
    payload: M[K]["input"],
    observer: Observer<M[K]["output"]>,
    lastEventId?: string,
  ): () => void {
    const id = this.start(method, payload, listener(observer), { method, payload, lastEventId });
    return () => this.cancel(id);
  }

  /** Calls a client-streaming method; `first`, when given, is the first request. */
  clientStream<K extends keyof M & string>(
    method: K,
    first?: M[K]["input"],
  ): ClientStreamCall<M[K]["input"], M[K]["output"]> {
    let sink: RequestSink<M[K]["input"]> | undefined;
    const result = new Promise<M[K]["output"]>((resolve, reject) => {
      let response: { value: M[K]["output"] } | undefined;
      sink = this.bidi(
        method,
        {
          next: (value) => {
            response = { value };
          },
          error: reject,
          complete: () => {
            if (response) resolve(response.value);
            else reject(new ApigenError("internal", `${method} completed without a response`));
          },
        },
        first,
      );
    });
    // The executor above runs synchronously, so `sink` is set.
    const requests = sink as RequestSink<M[K]["input"]>;
    return { result, send: (p) => requests.send(p), end: () => requests.end(), cancel: () => requests.cancel() };
  }

  /** Calls a bidirectional-streaming method; `first`, when given, is the first request. */
  bidi<K extends keyof M & string>(
    method: K,
    observer: Observer<M[K]["output"]>,
    first?: M[K]["input"],
  ): RequestSink<M[K]["input"]> {
    const id = this.start(method, first, listener(observer));
    return {
      send: (payload) => {
        if (this.calls.has(id)) this.send({ type: "next", id, payload });
      },
      end: () => {
        if (this.calls.has(id)) this.send({ type: "complete", id });
      },
      cancel: () => this.cancel(id),
    };
  }

  /** Sends an application-level ping; the server answers with a pong (not reported). */
  ping(): void {
    this.send({ type: "ping" });
  }

  /** Closes the socket (1000) for good; calls still running fail with "unavailable". */
  close(): void {
    const ws = this.ws;
    this.finish(new ApigenError("unavailable", "the client closed the socket", false), 1000, "");
    ws?.close(1000);
  }

  /** Connects once: resolves at `connection_ack`, rejects when this connection fails. */
  private async open(): Promise<void> {
    const url = this.urls[this.attempts % this.urls.length] as string;
    const metadata = typeof this.metadata === "function" ? await this.metadata() : this.metadata;
    if (this.closed) throw this.closed;
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, SUBPROTOCOL);
      this.ws = ws;
      let acknowledged = false;
      const timer = setTimeout(() => {
        reject(new ApigenError("deadline_exceeded", `${url} sent no connection_ack`));
        this.drop(ws, 4408, "no connection_ack");
      }, this.options.timeoutMs ?? 10_000);
      ws.onopen = () => {
        if (ws.protocol !== SUBPROTOCOL) {
          clearTimeout(timer);
          reject(new ApigenError("unimplemented", `${url} does not speak ${SUBPROTOCOL}`));
          this.drop(ws, 1002, `${url} does not speak ${SUBPROTOCOL}`);
          return;
        }
        ws.send(JSON.stringify({ type: "connection_init", payload: metadata }));
      };
      ws.onmessage = (event: MessageEvent) => {
        if (this.ws !== ws) return;
        this.heard = Date.now();
        const frame = parse(event.data);
        if (frame === undefined) return;
        if (acknowledged) {
          this.receive(frame);
        } else if (frame.type === "connection_ack") {
          acknowledged = true;
          clearTimeout(timer);
          this.opened();
          resolve();
        } else if (frame.type === "ping") {
          ws.send(JSON.stringify({ type: "pong" }));
        }
      };
      ws.onclose = (event: CloseEvent) => {
        clearTimeout(timer);
        if (!acknowledged) reject(closeError(event.code, event.reason));
        this.drop(ws, event.code, event.reason);
      };
    });
  }

  /** The server acknowledged: streams are subscribed again, after their last event ids. */
  private opened(): void {
    this.attempts = 0;
    this.heard = Date.now();
    this.setState("open");
    const period = this.options.heartbeatMs ?? 15_000;
    if (period > 0) this.heartbeat = setInterval(() => this.beat(period), Math.max(period / 2, 10));
    for (const [id, call] of this.calls) {
      if (call.stream) this.subscribe(id, call.stream);
    }
  }

  /** Pings a quiet server, and takes a connection that stays silent for long for dead. */
  private beat(period: number): void {
    const quiet = Date.now() - this.heard;
    if (quiet >= 2 * period && this.ws) {
      this.drop(this.ws, 4000, `no frame from the server in ${quiet} ms`);
    } else if (quiet >= period) {
      this.send({ type: "ping" });
    }
  }

  /** The connection `ws` is gone (closed, or found dead): fail what cannot survive it and, unless
   * that was final, try again after a while. */
  private drop(ws: WebSocket, code: number, reason: string): void {
    if (this.ws !== ws) return;
    this.ws = undefined;
    clearInterval(this.heartbeat);
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close();
    if (this.closed) return;
    const error = closeError(code, reason);
    const retry = this.retry;
    if (retry === undefined || FINAL_CLOSES.has(code) || this.current === "connecting") {
      this.finish(error, code, reason);
      return;
    }
    // Calls whose requests may have reached the server are not sent again.
    for (const [id, call] of this.calls) {
      if (call.stream) continue;
      this.calls.delete(id);
      call.events.error(error);
    }
    this.again(retry, error, code, reason);
  }

  /** Tries to connect again after a jittered, growing delay, unless attempts have run out. */
  private again(retry: Required<ReconnectOptions>, error: ApigenError, code: number, reason: string): void {
    if (this.attempts >= retry.maxAttempts) {
      this.finish(error, code, reason);
      return;
    }
    this.setState("reconnecting");
    const delay = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** this.attempts);
    this.attempts += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open().catch((failed: unknown) => {
        // A connection that failed has been dropped, which tries again; a metadata callback
        // that threw made no connection, so try again from here.
        if (this.ws === undefined && !this.closed && this.retryTimer === undefined) {
          const why = failed instanceof Error ? failed.message : String(failed);
          this.again(retry, new ApigenError("unavailable", why), 1006, why);
        }
      });
    }, delay * (0.5 + Math.random() / 2));
  }

  /** The socket is done: every call fails with `error`. */
  private finish(error: ApigenError, code: number, reason: string): void {
    if (this.closed) return;
    this.closed = error;
    clearInterval(this.heartbeat);
    clearTimeout(this.retryTimer);
    this.ws = undefined;
    const calls = [...this.calls.values()];
    this.calls.clear();
    this.setState("closed");
    for (const call of calls) call.events.error(error);
    this.onclose?.(code, reason);
  }

  private setState(state: ConnectionState): void {
    if (this.current === state) return;
    this.current = state;
    this.onstatechange?.(state);
  }

  private start(method: string, payload: unknown, events: Listener, stream?: Stream): string {
    const id = String(++this.lastId);
    // A call other than a stream is not sent while there is no connection: nothing reached the
    // server, so the caller may simply call again. A stream waits for the next connection.
    const refused =
      this.closed ??
      (stream || this.current === "open"
        ? undefined
        : new ApigenError("unavailable", `the socket is ${this.current}; call again once it is open`));
    if (refused) {
      queueMicrotask(() => events.error(refused));
      return id;
    }
    this.calls.set(id, { events, stream });
    if (stream) this.subscribe(id, stream);
    else this.send(subscribeFrame(id, method, payload));
    return id;
  }

  /** Subscribes `stream` on the open connection, unless it is subscribed there already. */
  private subscribe(id: string, stream: Stream): void {
    if (this.current !== "open" || this.ws === undefined || stream.on === this.ws) return;
    stream.on = this.ws;
    this.send(subscribeFrame(id, stream.method, stream.payload, stream.lastEventId));
  }

  private cancel(id: string): void {
    if (this.calls.delete(id)) this.send({ type: "cancel", id });
  }

  private send(frame: Frame): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private receive(frame: Frame): void {
    if (frame.type === "ping") {
      this.send({ type: "pong" });
      return;
    }
    const id = frame.id;
    const call = id === undefined ? undefined : this.calls.get(id);
    if (call === undefined || id === undefined) return;
    switch (frame.type) {
      case "next": {
        const eventId = typeof frame.eventId === "string" ? frame.eventId : undefined;
        if (call.stream && eventId !== undefined) call.stream.lastEventId = eventId;
        call.events.next(frame.payload, eventId);
        break;
      }
      case "complete":
        this.calls.delete(id);
        call.events.complete();
        break;
      case "error": {
        const error = errorFrom(frame.payload);
        // A stream the server ended as unavailable (say it is shutting down) is subscribed
        // again: on the next connection, or on this one after a while if it stays open.
        const { stream } = call;
        const retry = this.retry;
        if (stream && error.code === "unavailable" && retry !== undefined) {
          stream.on = undefined;
          const delay = retry.initialDelayMs * (0.5 + Math.random() / 2);
          setTimeout(() => {
            if (this.calls.get(id) === call) this.subscribe(id, stream);
          }, delay);
          break;
        }
        this.calls.delete(id);
        call.events.error(error);
        break;
      }
    }
  }
}

/** A `subscribe` frame: a call of `method` under `id`, after the event `lastEventId` when a
 * stream resumes. */
function subscribeFrame(id: string, method: string, payload: unknown, lastEventId?: string): Frame {
  const frame: Frame = { type: "subscribe", id, method };
  if (payload !== undefined) frame.payload = payload;
  if (lastEventId !== undefined) frame.lastEventId = lastEventId;
  return frame;
}

function listener<T>(observer: Observer<T>): Listener {
  return {
    next: (payload, eventId) => observer.next?.(payload as T, eventId),
    error: (error) => observer.error?.(error),
    complete: () => observer.complete?.(),
  };
}
