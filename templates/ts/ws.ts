// A browser client of apigen's WebSocket subprotocol `apigen.v1` (GET /ws): JSON text frames,
// many calls on one socket, every method kind. No dependencies: the platform's WebSocket and JSON.
//
//   const socket = await ApigenSocket.connect<Methods>("ws://localhost:8080/ws", { authorization: "Bearer …" });
//   const shelf = await socket.call("bookstore.v1.Bookstore/GetShelf", { name: "shelves/1" });
//   const stop = socket.stream("bookstore.v1.Bookstore/WatchShelf", { name: "shelves/1" }, { next: (e) => … });
//
// `Methods` maps "package.Service/Method" to `{ input; output }` (the proto3 JSON types); without
// it, payloads are `unknown`. Errors are `ApigenError`s whose `code` is the status name
// ("not_found", …); when the socket closes, every call still running fails with "unavailable"
// ("unauthenticated" for close code 4401).

/** The subprotocol the server speaks at /ws. */
export const SUBPROTOCOL = "apigen.v1";

/** Method name → request and response types. */
export type MethodMap = Record<string, { input: unknown; output: unknown }>;

/** A call's error: `code` is the status name, for example "not_found". */
export class ApigenError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "ApigenError";
    this.code = code;
  }
}

/** What a stream reports: each response, then either `complete` or `error`, once. */
export interface Observer<T> {
  next?: (message: T) => void;
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

export interface ConnectOptions {
  /** How long to wait for `connection_ack`, in milliseconds (default 10 000). */
  timeoutMs?: number;
}

interface Frame {
  type: string;
  id?: string;
  payload?: unknown;
}

interface Listener {
  next(payload: unknown): void;
  error(error: ApigenError): void;
  complete(): void;
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

/** One socket to a server's /ws, carrying any number of concurrent calls. */
export class ApigenSocket<M extends MethodMap = MethodMap> {
  /** Called once when the socket closes, with its close code and reason. */
  onclose: ((code: number, reason: string) => void) | undefined;

  private readonly calls = new Map<string, Listener>();
  private lastId = 0;
  private closed: ApigenError | undefined;

  private constructor(private readonly ws: WebSocket) {}

  /**
   * Opens `url` (`ws://host:port/ws`) and sends `metadata` (for example `authorization`) in
   * `connection_init`; resolves once the server acknowledges it.
   */
  static connect<M extends MethodMap = MethodMap>(
    url: string,
    metadata: Record<string, string> = {},
    options: ConnectOptions = {},
  ): Promise<ApigenSocket<M>> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, SUBPROTOCOL);
      const socket = new ApigenSocket<M>(ws);
      let acknowledged = false;
      const timer = setTimeout(() => {
        reject(new ApigenError("deadline_exceeded", `${url} sent no connection_ack`));
        ws.close();
      }, options.timeoutMs ?? 10_000);
      ws.onopen = () => {
        if (ws.protocol !== SUBPROTOCOL) {
          clearTimeout(timer);
          reject(new ApigenError("unimplemented", `${url} does not speak ${SUBPROTOCOL}`));
          ws.close();
          return;
        }
        ws.send(JSON.stringify({ type: "connection_init", payload: metadata }));
      };
      ws.onmessage = (event: MessageEvent) => {
        const frame = parse(event.data);
        if (frame === undefined) return;
        if (acknowledged) {
          socket.receive(frame);
        } else if (frame.type === "connection_ack") {
          acknowledged = true;
          clearTimeout(timer);
          resolve(socket);
        } else if (frame.type === "ping") {
          ws.send(JSON.stringify({ type: "pong" }));
        }
      };
      ws.onclose = (event: CloseEvent) => {
        clearTimeout(timer);
        const error = closeError(event.code, event.reason);
        if (!acknowledged) reject(error);
        socket.shut(error, event.code, event.reason);
      };
    });
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

  /** Calls a server-streaming method; returns a function that cancels the call. */
  stream<K extends keyof M & string>(method: K, payload: M[K]["input"], observer: Observer<M[K]["output"]>): () => void {
    const id = this.start(method, payload, listener(observer));
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

  /** Closes the socket (1000); calls still running fail with "unavailable". */
  close(): void {
    this.ws.close(1000);
  }

  private start(method: string, payload: unknown, events: Listener): string {
    const id = String(++this.lastId);
    if (this.closed) {
      const error = this.closed;
      queueMicrotask(() => events.error(error));
      return id;
    }
    this.calls.set(id, events);
    const frame: Frame & { method: string } = { type: "subscribe", id, method };
    if (payload !== undefined) frame.payload = payload;
    this.send(frame);
    return id;
  }

  private cancel(id: string): void {
    if (this.calls.delete(id)) this.send({ type: "cancel", id });
  }

  private send(frame: Frame): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private receive(frame: Frame): void {
    if (frame.type === "ping") {
      this.send({ type: "pong" });
      return;
    }
    const events = frame.id === undefined ? undefined : this.calls.get(frame.id);
    if (events === undefined || frame.id === undefined) return;
    switch (frame.type) {
      case "next":
        events.next(frame.payload);
        break;
      case "complete":
        this.calls.delete(frame.id);
        events.complete();
        break;
      case "error":
        this.calls.delete(frame.id);
        events.error(errorFrom(frame.payload));
        break;
    }
  }

  private shut(error: ApigenError, code: number, reason: string): void {
    if (this.closed) return;
    this.closed = error;
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const events of calls) events.error(error);
    this.onclose?.(code, reason);
  }
}

function listener<T>(observer: Observer<T>): Listener {
  return {
    next: (payload) => observer.next?.(payload as T),
    error: (error) => observer.error?.(error),
    complete: () => observer.complete?.(),
  };
}
