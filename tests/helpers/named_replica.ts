/**
 * An in-process replica for the replica-judging tests: it answers every
 * request with its name, and a test changes how while it runs (status,
 * delay, the health path's status). It answers a stall probe (`OPTIONS *`)
 * at once, as a live process does however slow its answers are, and counts
 * what it served.
 *
 * @example
 * ```ts
 * import { startNamedReplica } from "./named_replica.ts";
 * const replica = await startNamedReplica("a");
 * replica.status = 500; // from now on it answers 500
 * await replica.close();
 * ```
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** A replica a test steers. */
export interface NamedReplica {
  name: string;
  port: number;
  /** Status of every answer (200 unless a test says otherwise). */
  status: number;
  /** Delay before every answer, and before answers to paths starting with /slow. */
  delayMs: number;
  slowPathMs: number;
  /** Status of `GET /healthz` (answered at once, not counted in `served`). */
  health: number;
  /** Requests answered, and health checks answered. */
  served: number;
  checks: number;
  /** Connections open to it now. */
  readonly open: number;
  close(): Promise<void>;
}

/** Start a replica that says `name`, on a free loopback port. */
export async function startNamedReplica(name: string, health = 200): Promise<NamedReplica> {
  const sockets = new Set<Socket>();
  const replica: NamedReplica = {
    name,
    port: 0,
    status: 200,
    delayMs: 0,
    slowPathMs: 0,
    health,
    served: 0,
    checks: 0,
    get open() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    // A live process answers a stall probe at once, however slow its answers to requests are.
    if (req.method === "OPTIONS" && req.url === "*") return void res.end();
    if (req.url === "/healthz") {
      replica.checks++;
      res.statusCode = replica.health;
      return void res.end("health\n");
    }
    const delay = (req.url ?? "").startsWith("/slow") ? replica.slowPathMs : replica.delayMs;
    setTimeout(() => {
      replica.served++;
      res.statusCode = replica.status;
      res.setHeader("Content-Type", "text/plain");
      res.end(`${name}\n`);
    }, delay);
  });
  server.keepAliveTimeout = 60_000;
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  replica.port = (server.address() as AddressInfo).port;
  return replica;
}
