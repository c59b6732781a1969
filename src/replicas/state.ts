/**
 * The service state: what this process knows about each replica of each
 * service, beyond where the registry says it is. Kept per process (each
 * `--procs` worker judges from its own traffic, as Envoy's workers do),
 * updated by the outcomes of tries, stall detection, health checks and
 * drains, read by picking, metrics and the admin API.
 *
 * @module
 */

import { type Replica, replicaAddress } from "../registry/types.ts";

/** How replicas are judged; every setting has a flag (see the README for the defaults' reasons). */
export interface ReplicaPolicy {
  /** Consecutive gateway failures (refused, reset, timed out, 502/503/504) that eject; 0: never. */
  gatewayFailures: number;
  /** Consecutive 5xx responses that eject; 0: never. */
  serverErrors: number;
  /** The first ejection's length; the n-th lasts n times as long. */
  baseEjectionMs: number;
  /** The longest ejection. */
  maxEjectionMs: number;
  /** Most replicas of a service ejected at once, in percent (at least one may always go). */
  maxEjectedPercent: number;
  /** A replica that appears, returns from ejection or becomes healthy ramps up over this long; 0: off. */
  slowStartMs: number;
  /** A replica with requests out that sends nothing this long, while its peers answer, is probed; 0: off. */
  stallWindowMs: number;
  /** Retries in flight may be at most this share of a service's requests in flight, in percent. */
  retryBudgetPercent: number;
  /** ... but at least this many. */
  retryBudgetMin: number;
  /**
   * A try far slower to answer than the service's quickest replica, while
   * the service answers others, gets a second try on another replica (the
   * first answer wins).
   */
  hedge: boolean;
}

/** What one try's end says about its replica. */
export const Outcome = {
  /** A response below 500 began: the replica works. */
  Success: 0,
  /** Refused, reset, closed or timed out before answering. */
  GatewayFailure: 1,
  /** A 502, 503 or 504 response: a gateway failure and a 5xx. */
  GatewayResponse: 2,
  /** Another 5xx response. */
  ServerError: 3,
  /** Ended without a verdict (the client left, the try was abandoned). */
  None: 4,
} as const;

/** One of {@link Outcome}'s values. */
export type Outcome = typeof Outcome[keyof typeof Outcome];

/** Who waits on a replica: told when that replica is found frozen, or the wait is long. */
export interface StallListener {
  /** The replica stopped answering: give up this try if it can be retried elsewhere. */
  replicaStalled(): void;
  /**
   * Its replica has sent nothing for longer than `slowAfter` ms (its tries
   * out and quiet), while the service answered others (last at
   * `answeredAt`): a try that has itself waited that long, with an answer
   * of the service's since it began, may be hedged. Checked every sweep
   * while hedging is on.
   */
  slowCheck(now: number, slowAfter: number, answeredAt: number): void;
}

/**
 * A replica much slower than the quickest of its peers (this many times,
 * plus an allowance for noise) is slow: picked only when no quicker one is
 * left, and a try waiting on it that long may be hedged.
 */
const SLOW_FACTOR = 8;
const SLOW_ALLOWANCE_MS = 25;

/**
 * The slowness beyond which a replica counts as slow at `now`: a multiple
 * of the quickest's among `states` (ejected ones left out unless `all`);
 * Infinity when none is eligible.
 *
 * @example
 * ```ts
 * import { ReplicaState, slowAbove } from "./state.ts";
 * const a = new ReplicaState("api", { host: "10.0.0.7", port: 8081 });
 * a.answeredIn(2, 0);
 * slowAbove([a], 0, false); // 41: 8 x 2 ms + 25 ms
 * ```
 */
export function slowAbove(states: Iterable<ReplicaState>, now: number, all: boolean): number {
  let quickest = Infinity;
  for (const s of states) {
    if (!all && s.ejected(now)) continue;
    const slowness = s.slowness(now);
    if (slowness < quickest) quickest = slowness;
  }
  return quickest === Infinity ? Infinity : quickest * SLOW_FACTOR + SLOW_ALLOWANCE_MS;
}

/**
 * One replica of one service, as this process sees it.
 *
 * @example
 * ```ts
 * import { ReplicaState } from "./state.ts";
 * const r = new ReplicaState("api", { host: "10.0.0.7", port: 8081 });
 * r.active; // 0
 * r.ejected(Date.now()); // false
 * ```
 */
export class ReplicaState {
  readonly service: string;
  readonly host: string;
  readonly port: number;
  /** `host:port` (IPv6 bracketed). */
  readonly address: string;
  /** Tries outstanding on it now. */
  active = 0;
  /** When its tries went from none to some (the start of a wait for it). */
  busySince = 0;
  /** When it last sent a byte of a response, or answered a probe. */
  lastByteAt = 0;
  /** Consecutive gateway failures and consecutive 5xx. */
  gatewayFailures = 0;
  serverErrors = 0;
  /** Ejected until this time (0: not ejected). */
  ejectedUntil = 0;
  /** Ejections counted for the next one's length (decays while it stays in). */
  ejections = 0;
  /** When it last came back from an ejection. */
  returnedAt = 0;
  /** Why it was last ejected. */
  reason = "";
  /** The last error seen on it, and when. */
  lastError = "";
  lastErrorAt = 0;
  /** A probe to it is out (stall detection). */
  probing = false;
  /** The tries waiting on it, for stall detection to move elsewhere. */
  readonly waiting = new Set<StallListener>();
  /** It was in the registry's last answer for its service. */
  listed = true;
  /**
   * An operator drained it (the admin API): it gets no new requests, even
   * in a panic, until undrained or gone from the registry.
   */
  drained = false;
  /** Active health checks: `new` until its first check's verdict (see health.ts). */
  health: "new" | "healthy" | "unhealthy" = "new";
  checkPasses = 0;
  checkFails = 0;
  /** When its next check is due (0: none scheduled yet), and whether one is out. */
  nextCheckAt = 0;
  checking = false;
  /** Its tries beaten by a hedge since it last answered well: the same request was quicker elsewhere. */
  lostRaces = 0;
  /** Its weight as the registry last gave it (1 when it gives none), and its priority group (0). */
  weight = 1;
  priority = 0;
  /** Slow start: when its ramp began (it appeared, returned, or became healthy); 0: none. */
  rampFrom = 0;
  /** Smooth weighted round robin's running credit. */
  credit = 0;
  /** Its time to a response head, a peak-weighted average in ms, and when last measured. */
  latencyMs = 0;
  latencyAt = 0;

  constructor(service: string, replica: Replica) {
    this.service = service;
    this.host = replica.host;
    this.port = replica.port;
    this.address = replicaAddress(replica);
  }

  /** Ejected at `now`. */
  ejected(now: number): boolean {
    return this.ejectedUntil > now;
  }

  /**
   * Its weight at `now` with a slow start of `rampMs` (0: none): from a
   * tenth of its weight to all of it, linearly, over `rampMs` from
   * {@link rampFrom}.
   */
  weightAt(now: number, rampMs: number): number {
    if (rampMs <= 0 || this.rampFrom === 0) return this.weight;
    const share = (now - this.rampFrom) / rampMs;
    return share >= 1 ? this.weight : this.weight * Math.max(0.1, share);
  }

  /**
   * Picking may take it at `now`: not ejected, not drained, and healthy when
   * health checks run (`checked`).
   */
  routable(now: number, checked: boolean): boolean {
    return this.ejectedUntil <= now && !this.drained && (!checked || this.health === "healthy");
  }

  /**
   * A response head came `ms` after its try began. A slower answer counts at
   * once (a peak), a faster one gradually, so one slow answer marks the
   * replica slow and it takes several quick ones to clear it.
   */
  answeredIn(ms: number, now: number): void {
    this.latencyMs = ms >= this.latencyMs ? ms : 0.7 * this.latencyMs + 0.3 * ms;
    this.latencyAt = now;
  }

  /**
   * How slow it looks at `now`: its measured latency, fading (half-life
   * about 7 s) when nothing new is measured, or the time its outstanding
   * tries have gone without a byte, whichever is more.
   */
  slowness(now: number): number {
    const faded = this.latencyMs === 0
      ? 0
      : this.latencyMs * Math.exp(-(now - this.latencyAt) / 10_000);
    if (this.active === 0) return faded;
    const quiet = now - Math.max(this.lastByteAt, this.busySince);
    return quiet > faded ? quiet : faded;
  }
}
