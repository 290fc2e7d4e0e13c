// Starts the example servers (built by `cargo build --workspace --bins`) on loopback and stops
// them again. Each test file starts its own servers in a `before` hook and stops them in `after`.

import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { homedir } from "node:os";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const BUILD_HINT = "run `cargo build --workspace --bins` first";
const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
/** `listening on http://HOST:PORT` (apigen's servers) or `listening on HOST:PORT` (the gRPC upstream). */
const LISTENING = /listening on (?:http:\/\/)?(\S+:\d+)/;

/** The token the servers of the authentication tests are started with. */
export const TOKEN = "node-e2e-token-3b9d";

/** The repository root: the nearest directory above this file that holds the example schemas. */
export const REPO = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "schemas", "examples", "bookstore.proto"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no schemas/examples/bookstore.proto above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
})();

/** Where the binaries are: $APIGEN_BIN_DIR, else ${CARGO_TARGET_DIR:-~/.cache/apigen-target}/debug. */
export function binDir(): string {
  if (process.env.APIGEN_BIN_DIR) return process.env.APIGEN_BIN_DIR;
  const target = process.env.CARGO_TARGET_DIR || join(homedir(), ".cache", "apigen-target");
  return join(target, "debug");
}

/** The path of an executable in binDir(); throws, saying how to build it, when it is missing. */
export function binary(name: string): string {
  const path = join(binDir(), name);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${path} does not exist or is not executable: ${BUILD_HINT}`);
  }
  return path;
}

export interface Server {
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  readonly url: string;
  /** What the server printed so far, for failure messages. */
  output(): string;
  /** SIGTERM, up to 10 s to finish, then SIGKILL; fails when the server had exited on its own. */
  stop(): Promise<void>;
  /** Sends `signal` to the server's process group (SIGSTOP freezes it, SIGCONT thaws it). */
  signal(signal: NodeJS.Signals): void;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  // Last resort when a test file dies without its `after` hook: no server outlives it.
  for (const child of running) signalGroup(child, "SIGKILL");
});

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal); // its own process group (detached), so helpers die too
  } catch {
    // already gone
  }
}

/** Starts `name --addr 127.0.0.1:0 ...args` and resolves once it prints `listening on http://…`. */
export async function startServer(name: "bookstore-example" | "chat-example", ...args: string[]): Promise<Server> {
  return startServerOn(name, "127.0.0.1:0", ...args);
}

/** Starts `name --addr ADDR ...args`: on a known port, to start it again there after a stop. */
export async function startServerOn(
  name: "bookstore-example" | "chat-example",
  addr: string,
  ...args: string[]
): Promise<Server> {
  return startCommand(name, binary(name), ["--addr", addr, ...args]);
}

/** Starts `server` listening on a free loopback port; resolves with the port. */
export async function listenOnLoopback(server: NetServer): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return (server.address() as AddressInfo).port;
}

/** A loopback port nothing listens on (to start a server on, and again after it stopped). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  const port = await listenOnLoopback(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A private `redis-server` on a loopback port, keeping nothing on disk; `url` is `redis://…`.
 * Fails saying what to install when there is none.
 */
export async function startRedis(): Promise<Server> {
  const port = await freePort();
  const path = process.env.REDIS_SERVER || "/usr/bin/redis-server";
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: install Debian's redis-server package (apt-get install redis-server), or set $REDIS_SERVER`);
  }
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  const server = await startCommand("redis-server", path, args, /Ready to accept connections/);
  return { ...server, url: `redis://127.0.0.1:${port}` };
}

/**
 * `apigen gateway` with both example schemas in front of tests/e2e/upstream/server.py, a plain
 * grpcio bookstore and chat (Python from the e2e suite's virtualenv, $APIGEN_VENV or
 * ~/.cache/apigen-venv, which tests/e2e/run.sh creates): the gateway, and the upstream to stop after it.
 */
export async function startGateway(): Promise<{ gateway: Server; upstream: Server }> {
  const venv = process.env.APIGEN_VENV || join(homedir(), ".cache", "apigen-venv");
  const python = join(venv, "bin", "python");
  if (!existsSync(python)) {
    throw new Error(`${python} does not exist: run tests/e2e/run.sh first (it makes the virtualenv with grpcio), or set APIGEN_VENV`);
  }
  const upstream = await startCommand("upstream", python, [join(REPO, "tests", "e2e", "upstream", "server.py"), "--port", "0"]);
  try {
    const schemas = ["schemas/examples/bookstore.proto", "schemas/examples/chat.proto", "-I", "schemas"];
    const args = ["gateway", ...schemas, "--upstream", upstream.url, "--addr", "127.0.0.1:0"];
    return { gateway: await startCommand("apigen gateway", binary("apigen"), args), upstream };
  } catch (err) {
    await upstream.stop();
    throw err;
  }
}

async function startCommand(name: string, path: string, args: string[], ready?: RegExp): Promise<Server> {
  const child = spawn(path, args, {
    cwd: REPO,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const output = () => `--- ${name} stdout ---\n${stdout}--- ${name} stderr ---\n${stderr.slice(-20_000)}`;
  let exited: number | string | null = null;
  const exit = new Promise<void>((resolve) =>
    child.on("exit", (code, signal) => {
      exited = code ?? signal ?? "?";
      running.delete(child);
      resolve();
    }),
  );

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} printed no \`listening on http://HOST:PORT\` within ${STARTUP_TIMEOUT_MS} ms\n${output()}`)),
      STARTUP_TIMEOUT_MS,
    );
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (ready) {
        if (ready.test(stdout)) {
          clearTimeout(timer);
          resolve("");
        }
        return;
      }
      const match = LISTENING.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(`http://${match[1]!}`);
      }
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${path}: ${err.message}`));
    });
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${exited} before listening\n${output()}`));
    });
  }).catch((err: unknown) => {
    signalGroup(child, "SIGKILL");
    throw err;
  });

  return {
    url,
    output,
    signal: (signal) => signalGroup(child, signal),
    async stop() {
      const exitedEarly = exited;
      if (exitedEarly === null) {
        signalGroup(child, "SIGTERM");
        const timer = setTimeout(() => signalGroup(child, "SIGKILL"), STOP_TIMEOUT_MS);
        await exit;
        clearTimeout(timer);
      }
      if (exitedEarly !== null) {
        throw new Error(`${name} exited on its own during the tests with ${exitedEarly}\n${output()}`);
      }
    },
  };
}
