/**
 * When requests reached a replica during a run: counted from its access log,
 * or, while it is frozen and logs nothing, from the bytes the kernel queues
 * on its sockets (`/proc/net/tcp`). Pure: the caller reads the files.
 * @module
 */

import { GRACE_S } from "./faults.ts";

/** The moments of one recorded run, in ms since the epoch (nginx logs wall time). */
export interface RunWindows {
  /** wrk started. */
  startMs: number;
  /** The fault happened (or would have, in the run without one). */
  faultMs: number;
  /** wrk ended. */
  endMs: number;
  /** The fault ended (a fault that lasts a while: `unready`). */
  faultEndMs?: number;
}

/** The requests one replica got in a run, by window. */
export interface ReplicaCount {
  /** From the start to the fault. */
  beforeFault: number;
  /** From the fault to the end. */
  afterFault: number;
  /** From {@link GRACE_S} after the fault to the end. */
  afterGrace: number;
  /** When the last request after the fault reached it; absent when none did. */
  lastAfterFaultMs?: number;
  /** From {@link GRACE_S} after the fault to the fault's end (a fault that ends; else 0). */
  whileFaulty?: number;
}

/**
 * Counts arrivals into the windows of one run; arrivals before the start
 * (the warm-up) or after the end are left out.
 *
 * @example
 * ```ts
 * import { ArrivalTally } from "./arrivals.ts";
 * const tally = new ArrivalTally({ startMs: 0, faultMs: 3000, endMs: 12000 });
 * tally.add(1000);
 * tally.add(3500);
 * tally.add(5000, 2);
 * tally.count(); // { beforeFault: 1, afterFault: 3, afterGrace: 2, lastAfterFaultMs: 5000 }
 * ```
 */
export class ArrivalTally {
  readonly #w: RunWindows;
  #count: ReplicaCount = { beforeFault: 0, afterFault: 0, afterGrace: 0 };

  constructor(windows: RunWindows) {
    this.#w = windows;
  }

  /** Counts `weight` requests (a fraction, when estimated from bytes) that arrived at `atMs`. */
  add(atMs: number, weight = 1): void {
    const w = this.#w;
    if (atMs < w.startMs || atMs > w.endMs || weight <= 0) return;
    const c = this.#count;
    if (atMs < w.faultMs) {
      c.beforeFault += weight;
      return;
    }
    c.afterFault += weight;
    if (atMs >= w.faultMs + GRACE_S * 1000) {
      c.afterGrace += weight;
      if (w.faultEndMs !== undefined && atMs < w.faultEndMs) {
        c.whileFaulty = (c.whileFaulty ?? 0) + weight;
      }
    }
    if (c.lastAfterFaultMs === undefined || atMs > c.lastAfterFaultMs) c.lastAfterFaultMs = atMs;
  }

  /** The counts so far. */
  count(): ReplicaCount {
    return { ...this.#count };
  }
}

/** One TCP connection of `/proc/net/tcp`, seen from the listening side. */
export interface TcpSocket {
  /** The peer's address and port, as `/proc` prints it (hex). */
  remote: string;
  /** Bytes received and not yet read by the process. */
  rxQueue: number;
}

/**
 * The connections to local port `port` in the text of `/proc/net/tcp`
 * (IPv4), listening sockets left out (their queue counts connections, not
 * bytes). A connection still waiting in the backlog is listed too.
 *
 * @example
 * ```ts
 * const text = "  sl  local_address rem_address   st tx_queue rx_queue\n" +
 *   "   0: 0100007F:4E20 0100007F:9C40 01 00000000:000000FA 00:00000000 00000000\n";
 * parseProcNetTcp(text, 0x4e20); // [{ remote: "0100007F:9C40", rxQueue: 250 }]
 * ```
 */
export function parseProcNetTcp(text: string, port: number): TcpSocket[] {
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const sockets: TcpSocket[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    // sl, local, remote, state, tx:rx, ...
    if (f.length < 5 || !f[1].endsWith(suffix) || f[3] === "0A") continue;
    const rx = f[4].split(":")[1];
    if (rx === undefined) continue;
    sockets.push({ remote: f[2], rxQueue: parseInt(rx, 16) });
  }
  return sockets;
}

/** Bytes that arrived on one connection since the tracking began. */
interface Received {
  /** Bytes queued at the last look. */
  queued: number;
  /** Bytes arrived in all, by the last look. */
  total: number;
}

/** One look at which a connection had received more. */
interface Growth {
  atMs: number;
  remote: string;
  /** That connection's bytes arrived in all, by then. */
  total: number;
}

/**
 * Requests reaching a frozen replica, from successive looks at its
 * connections' receive queues: a process that reads nothing lets every
 * byte sent to it pile up, so what a queue gained between two looks
 * arrived between them. Each connection's bytes are turned into requests
 * by the proxy's request size, rounded, so a health check (a few dozen
 * bytes on a connection of its own) counts as none.
 *
 * @example
 * ```ts
 * import { QueueArrivals } from "./arrivals.ts";
 * const q = new QueueArrivals();
 * q.observe(0, [{ remote: "a", rxQueue: 0 }]); // the baseline, before the freeze
 * q.observe(50, [{ remote: "a", rxQueue: 250 }]);
 * q.observe(100, [{ remote: "a", rxQueue: 500 }, { remote: "b", rxQueue: 30 }]);
 * q.arrivals(250); // [{ atMs: 50, requests: 1 }, { atMs: 100, requests: 1 }]
 * ```
 */
export class QueueArrivals {
  #connections = new Map<string, Received>();
  #growth: Growth[] = [];
  #looked = false;

  /**
   * Takes one look. The first one is the baseline: bytes already queued
   * then arrived before the tracking began.
   */
  observe(atMs: number, sockets: readonly TcpSocket[]): void {
    for (const s of sockets) {
      const known = this.#connections.get(s.remote);
      if (known === undefined) {
        // A connection new since the last look brought all it holds, unless
        // this is the baseline.
        const total = this.#looked ? s.rxQueue : 0;
        this.#connections.set(s.remote, { queued: s.rxQueue, total });
        if (total > 0) this.#growth.push({ atMs, remote: s.remote, total });
        continue;
      }
      // A smaller queue on a known peer address is a new connection from a
      // reused port (the old one was reset): all it holds is new.
      const gained = s.rxQueue >= known.queued ? s.rxQueue - known.queued : s.rxQueue;
      known.queued = s.rxQueue;
      if (gained > 0) {
        known.total += gained;
        this.#growth.push({ atMs, remote: s.remote, total: known.total });
      }
    }
    this.#looked = true;
  }

  /**
   * The requests that arrived, as (time of the look that saw them, how
   * many), given the size of one request in bytes.
   */
  arrivals(requestBytes: number): { atMs: number; requests: number }[] {
    const counted = new Map<string, number>();
    const out: { atMs: number; requests: number }[] = [];
    for (const g of this.#growth) {
      const requests = Math.round(g.total / requestBytes);
      const before = counted.get(g.remote) ?? 0;
      if (requests > before) {
        counted.set(g.remote, requests);
        out.push({ atMs: g.atMs, requests: requests - before });
      }
    }
    return out;
  }
}
