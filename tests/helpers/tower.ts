/**
 * Tower (UDP registry) client helpers for end-to-end tests.
 *
 * @module
 */

import dgram from "node:dgram";
import { Buffer } from "node:buffer";

/**
 * Sends one datagram to a Tower and resolves with the reply text. Rejects
 * after `timeoutMs` without a reply.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { towerRequest } from "./tower.ts";
 * declare const towerPort: number;
 * assert.equal(await towerRequest(towerPort, "PING"), "OK|PONG|tower");
 * ```
 */
export function towerRequest(
  port: number,
  message: string,
  opts: { host?: string; timeoutMs?: number } = {},
): Promise<string> {
  const host = opts.host ?? "127.0.0.1";
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket("udp4");
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no reply from Tower ${host}:${port} to ${JSON.stringify(message)}`));
    }, timeoutMs);
    socket.on("error", (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
    socket.on("message", (msg: Buffer) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg.toString("utf8").trim());
    });
    socket.send(Buffer.from(message), port, host);
  });
}

/** Sends a request, retrying twice on silence (UDP may drop a datagram). */
async function towerRequestRetrying(port: number, message: string): Promise<string> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await towerRequest(port, message, { timeoutMs: 3_000 });
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/**
 * Registers `host:backendPort` as a replica of `service` and checks the
 * Tower's `OK|REGISTERED|<service>` answer.
 *
 * @example
 * ```ts
 * import { register } from "./tower.ts";
 * import { startEchoBackend } from "./backends.ts";
 * declare const towerPort: number;
 * const backend = await startEchoBackend("frontend");
 * await register(towerPort, "frontend", backend.port);
 * ```
 */
export async function register(
  towerPort: number,
  service: string,
  backendPort: number,
  host = "127.0.0.1",
): Promise<void> {
  const reply = await towerRequestRetrying(
    towerPort,
    `REGISTER|${service}|${host}|${backendPort}`,
  );
  if (reply !== `OK|REGISTERED|${service}`) {
    throw new Error(`REGISTER ${service} ${host}:${backendPort} answered ${JSON.stringify(reply)}`);
  }
}

/**
 * Deregisters a replica and checks the `OK|DEREGISTERED|<service>` answer.
 */
export async function deregister(
  towerPort: number,
  service: string,
  backendPort: number,
  host = "127.0.0.1",
): Promise<void> {
  const reply = await towerRequest(
    towerPort,
    `DEREGISTER|${service}|${host}|${backendPort}`,
  );
  if (reply !== `OK|DEREGISTERED|${service}`) {
    throw new Error(
      `DEREGISTER ${service} ${host}:${backendPort} answered ${JSON.stringify(reply)}`,
    );
  }
}

/** Sends PING and resolves with the reply (expected `OK|PONG|tower`). */
export function ping(towerPort: number, host = "127.0.0.1"): Promise<string> {
  return towerRequest(towerPort, "PING", { host });
}
