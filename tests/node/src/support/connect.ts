// Calls the example services with @connectrpc/connect-node, using descriptors loaded at run time
// from the FileDescriptorSet that `apigen descriptor-set` writes (no generated TypeScript).
// Requests and responses are proto3 JSON, so the tests read like the JSON the server speaks.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import {
  createFileRegistry,
  fromBinary,
  fromJson,
  toJson,
  type DescMethod,
  type DescService,
  type FileRegistry,
  type JsonObject,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createClient, type CallOptions, type Transport } from "@connectrpc/connect";

import { Deferred, Inbox, within, WAIT_MS } from "./async.js";
import { binary, REPO } from "./servers.js";

export type { JsonObject, JsonValue };

/**
 * The descriptors of `schemas/examples/<name>.proto` and its imports: read from
 * $APIGEN_DESCRIPTOR_DIR/<name>.binpb when run.sh wrote it, else written now with `apigen descriptor-set`.
 */
export function loadRegistry(name: "bookstore" | "chat"): FileRegistry {
  let dir = process.env.APIGEN_DESCRIPTOR_DIR;
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), "apigen-node-"));
    execFileSync(binary("apigen"), ["descriptor-set", `schemas/examples/${name}.proto`, "-o", join(dir, `${name}.binpb`)], {
      cwd: REPO,
      stdio: ["ignore", "ignore", "inherit"],
    });
  }
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(join(dir, `${name}.binpb`)));
  return createFileRegistry(set);
}

export function service(registry: FileRegistry, typeName: string): DescService {
  const found = registry.getService(typeName);
  if (!found) throw new Error(`the descriptor set has no service ${typeName}`);
  return found;
}

/**
 * A Connect client (createClient over `transport`) whose methods take and return proto3 JSON:
 * `await api.unary("createShelf", { shelf: { theme: "x" } })`.
 */
export class JsonClient {
  private readonly client: Record<string, (request: Message, options?: CallOptions) => unknown>;

  constructor(
    private readonly service: DescService,
    transport: Transport,
  ) {
    // The descriptors come from a file at run time, so the client's methods have no static types.
    this.client = createClient(service, transport) as unknown as typeof this.client;
  }

  private method(localName: string, kind: DescMethod["methodKind"]): DescMethod {
    const method = this.service.methods.find((m) => m.localName === localName);
    if (!method) throw new Error(`${this.service.typeName} has no method ${localName}`);
    if (method.methodKind !== kind) throw new Error(`${method.name} is ${method.methodKind}, not ${kind}`);
    return method;
  }

  async unary(localName: string, request: JsonObject, options?: CallOptions): Promise<JsonObject> {
    const method = this.method(localName, "unary");
    const response = (await this.client[localName]!(fromJson(method.input, request), options)) as Message;
    return toJson(method.output, response) as JsonObject;
  }

  async *serverStream(localName: string, request: JsonObject, options?: CallOptions): AsyncIterable<JsonObject> {
    const method = this.method(localName, "server_streaming");
    const responses = this.client[localName]!(fromJson(method.input, request), options) as AsyncIterable<Message>;
    for await (const response of responses) yield toJson(method.output, response) as JsonObject;
  }
}

/** A server stream being read in the background; `stop()` aborts it and waits until it has ended. */
export interface OpenStream {
  /** The response headers, which arrive once the server has accepted the call. */
  headers: Headers;
  /** The messages so far; `take(n)` waits for them. An error other than our abort fails it. */
  messages: Inbox<JsonObject>;
  stop(): Promise<void>;
}

/**
 * Calls a server-streaming method and resolves once the response headers have arrived, so that
 * what the test does next happens while the server is streaming to this client.
 */
export async function openStream(
  api: JsonClient,
  localName: string,
  request: JsonObject,
  options: Omit<CallOptions, "signal" | "onHeader"> = {},
): Promise<OpenStream> {
  const abort = new AbortController();
  const opened = new Deferred<Headers>();
  const messages = new Inbox<JsonObject>();
  const reading = (async () => {
    try {
      const stream = api.serverStream(localName, request, {
        timeoutMs: 4 * WAIT_MS,
        ...options,
        signal: abort.signal,
        onHeader: (headers) => opened.resolve(headers),
      });
      for await (const message of stream) messages.push(message);
      messages.fail(new Error("the stream ended by itself"));
    } catch (err) {
      if (!abort.signal.aborted) messages.fail(err);
      opened.reject(err);
    }
  })();
  const stop = async () => {
    abort.abort();
    await within(reading, `${localName} to end after the client aborted it`);
  };
  try {
    const headers = await within(opened.promise, `${localName}'s response headers (the server accepting the call)`);
    return { headers, messages, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
