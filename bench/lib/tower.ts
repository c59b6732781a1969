/**
 * A Tower client for the benchmark: registers the backend over the Tower
 * UDP protocol and keeps re-sending the REGISTER as a heartbeat.
 * Uses `node:dgram`, the UDP API Deno and Bun share.
 * @module
 */

import dgram from "node:dgram";

/** Where the Tower is and what to register. */
export interface RegistrationOptions {
  towerHost: string;
  towerPort: number;
  service: string;
  ip: string;
  port: number;
}

/**
 * The REGISTER datagram of the Tower protocol.
 *
 * @example
 * ```ts
 * registerMessage({ towerHost: "127.0.0.1", towerPort: 7772, service: "bench",
 *   ip: "127.0.0.1", port: 18080 }); // "REGISTER|bench|127.0.0.1|18080"
 * ```
 */
export function registerMessage(o: RegistrationOptions): string {
  return `REGISTER|${o.service}|${o.ip}|${o.port}`;
}

/**
 * One backend registration with a heartbeat. Entries expire 30 s after the
 * last REGISTER, so a long benchmark must keep sending it.
 *
 * @example
 * ```ts
 * import { TowerRegistration } from "./tower.ts";
 * const reg = new TowerRegistration({
 *   towerHost: "127.0.0.1",
 *   towerPort: 7772,
 *   service: "bench",
 *   ip: "127.0.0.1",
 *   port: 18080,
 * });
 * await reg.register(1000); // "OK|REGISTERED|bench"
 * reg.startHeartbeat(10_000);
 * // ... later
 * reg.close();
 * ```
 */
export class TowerRegistration {
  #opts: RegistrationOptions;
  #socket: dgram.Socket;
  #timer: ReturnType<typeof setInterval> | undefined;
  #waiters = new Set<(reply: string) => void>();
  #bound: Promise<void>;

  constructor(opts: RegistrationOptions) {
    this.#opts = opts;
    this.#socket = dgram.createSocket("udp4");
    this.#socket.on("message", (msg) => {
      const reply = msg.toString("utf8");
      for (const w of this.#waiters) w(reply);
    });
    // A send error (e.g. ICMP port unreachable) must not crash the harness.
    this.#socket.on("error", () => {});
    this.#bound = new Promise((resolve) => this.#socket.bind(0, "127.0.0.1", resolve));
  }

  /** Sends one REGISTER; resolves with the reply or `undefined` on timeout. */
  async register(timeoutMs: number): Promise<string | undefined> {
    await this.#bound;
    return await new Promise((resolve) => {
      const done = (reply: string | undefined) => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve(reply);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.#waiters.add(done);
      this.#socket.send(registerMessage(this.#opts), this.#opts.towerPort, this.#opts.towerHost);
    });
  }

  /** Re-sends the REGISTER every `intervalMs` without waiting for replies. */
  startHeartbeat(intervalMs: number): void {
    this.#timer ??= setInterval(() => {
      this.#socket.send(registerMessage(this.#opts), this.#opts.towerPort, this.#opts.towerHost);
    }, intervalMs);
  }

  /** Stops the heartbeat and closes the socket. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    try {
      this.#socket.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * True when a UDP port on `host` can be bound right now.
 *
 * @example
 * ```ts
 * await udpPortFree("127.0.0.1", 17772);
 * ```
 */
export function udpPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    s.once("error", () => {
      s.close();
      resolve(false);
    });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}
