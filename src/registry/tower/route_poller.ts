/**
 * A remote Tower's declared routes (`--tower`, `tower://`): read with
 * `ROUTES` pages every second, on a socket of their own so no lookup ever
 * waits behind a page, and told to watchers only when the set changed. A
 * Tower that does not serve them (one without `--routes`, an older one, a
 * seed) is asked again only every 30 s, and said so once.
 *
 * @module
 */

import { messageOf } from "../../error_message.ts";
import {
  type BindUdp,
  declaredRouteOf,
  formatReply,
  type RouteListing,
  TowerClient,
  type TowerReply,
} from "../../tower.ts";
import type { DeclaredRoute } from "../types.ts";

/**
 * Options for {@link TowerRoutePoller.open}.
 *
 * @example
 * ```ts
 * import type { RoutePollerOptions } from "./route_poller.ts";
 * import { bindUdp } from "../../runtime/udp.ts";
 * const options: RoutePollerOptions = { bindUdp, intervalMs: 1_000, log: console.error };
 * ```
 */
export interface RoutePollerOptions {
  /** How to bind the poller's UDP socket. */
  bindUdp: BindUdp;
  /** Between two reads. Default 1 s. */
  intervalMs?: number;
  /** Between two tries at a Tower that refused ROUTES. Default 30 s. */
  refusedIntervalMs?: number;
  /** Wait this long for each page. Default 300 ms. */
  timeoutMs?: number;
  /** Where a refusing or silent Tower is reported, once each time. Default: silent. */
  log?: (line: string) => void;
}

/** What one read of the pages came to. */
type Read =
  | { kind: "same" }
  | { kind: "read"; version: string; entries: RouteListing[] }
  | { kind: "refused"; reply: TowerReply }
  | { kind: "moving" };

/** A ROUTES read that sees the set change between its pages is started again this often. */
const READ_TRIES = 3;

/**
 * Polls a Tower's `ROUTES` and tells watchers the whole set of declared
 * routes when it changes. While the Tower is silent the last set stands;
 * when it refuses `ROUTES` the set is empty.
 *
 * @example
 * ```ts
 * import { TowerRoutePoller } from "./route_poller.ts";
 * import { bindUdp } from "../../runtime/udp.ts";
 * const poller = await TowerRoutePoller.open("127.0.0.1", 7772, { bindUdp });
 * poller.watch((routes) => console.log(routes.map((r) => r.spec.prefix)));
 * poller.close();
 * ```
 */
export class TowerRoutePoller {
  readonly #client: TowerClient;
  readonly #intervalMs: number;
  readonly #refusedIntervalMs: number;
  readonly #log: (line: string) => void;
  readonly #listeners = new Set<(routes: readonly DeclaredRoute[]) => void>();
  /** The set as last read; undefined until the first read. */
  #routes: readonly DeclaredRoute[] | undefined;
  /** The entries of that set as text, to tell a change from a new version of the same set. */
  #text = "";
  #version: string | undefined;
  #trouble: "refused" | "silent" | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #started = false;
  #closed = false;

  private constructor(client: TowerClient, options: RoutePollerOptions) {
    this.#client = client;
    this.#intervalMs = options.intervalMs ?? 1_000;
    this.#refusedIntervalMs = options.refusedIntervalMs ?? 30_000;
    this.#log = options.log ?? (() => {});
  }

  /** Bind the poller's socket for the Tower at `ip:port` (an IP literal). */
  static async open(
    ip: string,
    port: number,
    options: RoutePollerOptions,
  ): Promise<TowerRoutePoller> {
    const client = await TowerClient.open(ip, port, {
      bindUdp: options.bindUdp,
      timeoutMs: options.timeoutMs ?? 300,
      retries: 1,
    });
    return new TowerRoutePoller(client, options);
  }

  /**
   * Tell `listener` the whole set once it is first read (at once when it
   * has been), and again after every change. The first watcher starts the
   * polling.
   */
  watch(listener: (routes: readonly DeclaredRoute[]) => void): void {
    if (this.#closed) return;
    this.#listeners.add(listener);
    if (this.#routes !== undefined) listener(this.#routes);
    if (!this.#started) {
      this.#started = true;
      void this.#poll();
    }
  }

  /** When the Tower last replied to the poller, ms since the epoch (0: never). */
  get heardAt(): number {
    return this.#client.heardAt;
  }

  /** Stop polling and close the socket. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#listeners.clear();
    this.#client.close();
  }

  async #poll(): Promise<void> {
    let wait = this.#intervalMs;
    try {
      const read = await this.#read();
      if (this.#closed) return;
      if (read.kind === "refused") {
        wait = this.#refusedIntervalMs;
        if (this.#trouble !== "refused") {
          this.#log(
            `the Tower at ${this.#client.address} answered ROUTES with "${
              formatReply(read.reply)
            }": it serves no declared routes (run it with --routes, or --tower-routes for an ` +
              `ingress's Tower; an older Tower has none); asking again every ${wait / 1000} s`,
          );
        }
        this.#trouble = "refused";
        this.#version = undefined;
        this.#settle("", []);
      } else {
        if (read.kind !== "moving" && this.#trouble !== undefined) {
          this.#log(`the Tower at ${this.#client.address} serves declared routes again`);
          this.#trouble = undefined;
        }
        if (read.kind === "read") {
          this.#version = read.version;
          this.#settle(JSON.stringify(read.entries), read.entries.map(declaredRouteOf));
        }
      }
    } catch (err) {
      if (this.#closed) return;
      if (this.#trouble !== "silent") {
        this.#log(
          `the Tower at ${this.#client.address} did not answer ROUTES (${messageOf(err)}); ` +
            `keeping the ${this.#routes?.length ?? 0} declared routes read last`,
        );
        this.#trouble = "silent";
      }
    }
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#poll(), wait);
    // Polling must never be the reason a process stays alive.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Page 0, and the other pages when its version is new; started again if the set moves. */
  async #read(): Promise<Read> {
    for (let attempt = 0; attempt < READ_TRIES; attempt++) {
      const first = await this.#client.send({ kind: "ROUTES", page: 0 });
      if (first.kind !== "ROUTES") return { kind: "refused", reply: first };
      if (first.version === this.#version) return { kind: "same" };
      const entries = [...first.entries];
      let settled = true;
      for (let page = 1; page < first.pages && settled; page++) {
        const next = await this.#client.send({ kind: "ROUTES", page });
        if (next.kind !== "ROUTES") return { kind: "refused", reply: next };
        settled = next.version === first.version && next.pages === first.pages;
        entries.push(...next.entries);
      }
      if (settled) return { kind: "read", version: first.version, entries };
    }
    return { kind: "moving" };
  }

  /** Take `routes` as the set, and tell the watchers when it differs from the last. */
  #settle(text: string, routes: readonly DeclaredRoute[]): void {
    if (this.#routes !== undefined && text === this.#text) return;
    this.#text = text;
    this.#routes = Object.freeze(routes);
    for (const listener of this.#listeners) listener(this.#routes);
  }
}
