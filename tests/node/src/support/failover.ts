// A load balancer as small as it gets, for tests of clients that resume on another instance: a
// TCP proxy on a loopback port that sends each new connection to the first of its upstreams that
// accepts it. Stop the instance a client is on, and the client's reconnection lands on the next.

import { connect, createServer, type Server as NetServer, type Socket } from "node:net";

import { listenOnLoopback } from "./servers.js";

export interface Failover {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Stops accepting and cuts every proxied connection. */
  close(): Promise<void>;
}

/** Proxies to `upstreams` (`http://HOST:PORT`), the first that accepts each connection. */
export async function failover(upstreams: string[]): Promise<Failover> {
  const targets = upstreams.map((u) => new URL(u));
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };
  const server: NetServer = createServer((client) => {
    track(client);
    client.pause();
    const attempt = (i: number) => {
      const target = targets[i];
      if (target === undefined) {
        client.destroy();
        return;
      }
      const upstream = connect(Number(target.port), target.hostname);
      upstream.once("error", () => attempt(i + 1));
      upstream.once("connect", () => {
        track(upstream);
        upstream.removeAllListeners("error");
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
