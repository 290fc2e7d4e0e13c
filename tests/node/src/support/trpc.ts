// Helpers for the tRPC tests: a fetch that records the HTTP requests the links make, an
// assertion for tRPC's default error shape, and a subscription collected into an Inbox.

import assert from "node:assert/strict";

import { TRPCClientError } from "@trpc/client";

import { Deferred, explain, Inbox, within } from "./async.js";

export interface RecordedRequest {
  method: string;
  url: URL;
  headers: Headers;
}

/** A `fetch` for the links' `fetch` option that records every request before sending it. */
export function recordingFetch(): { fetch: typeof fetch; requests: RecordedRequest[] } {
  const requests: RecordedRequest[] = [];
  const recording: typeof fetch = (input, init) => {
    const request = input instanceof Request ? input : undefined;
    requests.push({
      method: init?.method ?? request?.method ?? "GET",
      url: new URL(request ? request.url : String(input)),
      headers: new Headers(init?.headers ?? request?.headers),
    });
    return fetch(input, init);
  };
  return { fetch: recording, requests };
}

/** The procedure paths one recorded tRPC request called: `/trpc/a.b,c.d` → ["a.b", "c.d"]. */
export function procedures(request: RecordedRequest): string[] {
  const path = request.url.pathname.replace(/^\/trpc\//, "");
  return decodeURIComponent(path).split(",");
}

/**
 * Expects `call` to fail with a TRPCClientError in tRPC's default error shape: `data.code`
 * (e.g. "NOT_FOUND") and `data.httpStatus`, a message mentioning every one of `mentions`.
 */
export async function rejectsWithTrpc(
  call: Promise<unknown>,
  code: string,
  httpStatus: number,
  ...mentions: string[]
): Promise<TRPCClientError<never>> {
  let caught: unknown;
  await assert.rejects(within(call, `a ${code} error`), (err: unknown) => {
    caught = err;
    return true;
  });
  assertTrpcError(caught, code, httpStatus, ...mentions);
  return caught as TRPCClientError<never>;
}

export function assertTrpcError(err: unknown, code: string, httpStatus: number, ...mentions: string[]): void {
  assert.ok(err instanceof TRPCClientError, `expected a TRPCClientError, got ${explain(err)}`);
  const data = (err as TRPCClientError<never>).data as { code?: unknown; httpStatus?: unknown } | undefined;
  const shape = (err as TRPCClientError<never>).shape as { code?: unknown; message?: unknown } | undefined;
  const seen = JSON.stringify({ message: err.message, shape: err.shape, data: err.data });
  assert.equal(data?.code, code, `expected data.code ${code}: ${seen}`);
  assert.equal(data?.httpStatus, httpStatus, `expected data.httpStatus ${httpStatus}: ${seen}`);
  assert.equal(typeof shape?.code, "number", `the error shape has a JSON-RPC code number: ${seen}`);
  for (const text of mentions) {
    assert.ok(err.message.includes(text), `expected the message to mention ${JSON.stringify(text)}: ${seen}`);
  }
}

/** What httpSubscriptionLink reports through onConnectionStateChange (tRPC does not export the type). */
export interface ConnectionState {
  state: string;
  error?: unknown;
}

/** What a running subscription delivered; `stop()` unsubscribes. */
export interface Subscription<T> {
  events: Inbox<T>;
  states: ConnectionState[];
  stop(): void;
}

/**
 * Starts a subscription with `start(callbacks)` (e.g. `(cb) => client.chat.subscribe.subscribe(input, cb)`)
 * and resolves once the link reports it started (the server accepted it), so that whatever the
 * test does next happens while it is live. Errors end up in `events` (take() rejects).
 */
export async function subscribed<T>(
  start: (callbacks: {
    onStarted(): void;
    onData(value: T): void;
    onError(err: unknown): void;
    onConnectionStateChange(state: ConnectionState): void;
  }) => { unsubscribe(): void },
  what: string,
): Promise<Subscription<T>> {
  const started = new Deferred();
  const events = new Inbox<T>();
  const states: ConnectionState[] = [];
  const subscription = start({
    onStarted: () => started.resolve(),
    onData: (value) => events.push(value),
    onError: (err) => {
      events.fail(err);
      started.reject(err);
    },
    onConnectionStateChange: (state) => states.push(state),
  });
  try {
    await within(started.promise, () => `${what} to start (connection states so far: ${JSON.stringify(states)})`);
  } catch (err) {
    subscription.unsubscribe();
    throw err;
  }
  return { events, states, stop: () => subscription.unsubscribe() };
}
