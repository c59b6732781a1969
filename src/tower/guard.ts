/**
 * Admission of the requests that change a Tower (REGISTER, DEREGISTER, and
 * the declared routes' ROUTE and UNROUTE): the per-sender rate limit, the
 * signature check with its nonce cache, and the entry and route caps, kept
 * in bounded memory whatever senders claim to be. Lookups never meet it.
 *
 * @module
 */

import {
  errorReply,
  REGISTRY_FULL,
  type TowerErrorReason,
  type TowerErrorReply,
} from "./errors.ts";
import type { TowerRequest } from "./protocol.ts";
import {
  assertTowerSecret,
  isSignedKind,
  macMatches,
  SIGNATURE_WINDOW_MS,
  type TowerSignature,
} from "./signing.ts";
import type { TowerState } from "./state.ts";
import { DEFAULT_MAX_ROUTES } from "./routes.ts";

/**
 * Default cap on entries a Tower server accepts over UDP.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_ENTRIES, TowerGuard } from "./guard.ts";
 * const guard = new TowerGuard({ maxEntries: DEFAULT_MAX_ENTRIES }); // the same as no option
 * ```
 */
export const DEFAULT_MAX_ENTRIES = 10_000;

/**
 * A token bucket per sender: `burst` requests at once, refilled at `perSecond`.
 *
 * @example
 * ```ts
 * import { TowerGuard, type TowerRateLimit } from "./guard.ts";
 * const rateLimit: TowerRateLimit = { perSecond: 5, burst: 10 };
 * const guard = new TowerGuard({ rateLimit });
 * ```
 */
export interface TowerRateLimit {
  /** Sustained requests per second per sender (> 0, may be fractional). */
  perSecond: number;
  /** Requests a sender may make at once (>= 1). */
  burst: number;
}

/**
 * Options for {@link TowerGuard}.
 *
 * @example
 * ```ts
 * import { TowerGuard, type TowerGuardOptions } from "./guard.ts";
 * const options: TowerGuardOptions = { secret: "s3cret", maxEntries: 0 }; // signed, no cap
 * const guard = new TowerGuard(options);
 * ```
 */
export interface TowerGuardOptions {
  /**
   * Require REGISTER, DEREGISTER, ROUTE and UNROUTE to be signed with this secret (see
   * {@link signTowerRequest}). Default: no signature needed; a signed request
   * is then accepted with its signature ignored, so clients can start
   * signing before the Tower requires it.
   */
  secret?: string;
  /** Per-sender limit on REGISTER, DEREGISTER, ROUTE and UNROUTE. Default: none. */
  rateLimit?: TowerRateLimit;
  /**
   * Most entries a REGISTER may create; refreshing an existing entry always
   * works. 0 means no cap. Default {@link DEFAULT_MAX_ENTRIES}.
   */
  maxEntries?: number;
  /**
   * Most route declarations ROUTEs may create (refreshes always work);
   * beyond it: `ERR|ROUTES_FULL|<name>`. 0 means no cap. Their own cap,
   * apart from `maxEntries`: a declaration holds up to 1 KiB, a replica
   * some 50 bytes. Default {@link DEFAULT_MAX_ROUTES}.
   */
  maxRoutes?: number;
  /** Clock in milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Senders whose buckets are remembered; the least recently seen goes first. Default 10000. */
  maxSenders?: number;
  /**
   * Nonces remembered for replay detection. When all are in their window,
   * further signed requests get `ERR|RATE_LIMITED|<name>`. Default 100000.
   */
  maxNonces?: number;
}

/** Token buckets by sender, at most `capacity` of them, in least-recently-seen order. */
class SenderBuckets {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #capacity: number;

  constructor(limit: TowerRateLimit, capacity: number) {
    this.#perSecond = limit.perSecond;
    this.#burst = limit.burst;
    this.#capacity = capacity;
  }

  /** Take one token from `sender`'s bucket; false when it is empty. */
  take(sender: string, now: number): boolean {
    let bucket = this.#buckets.get(sender);
    if (bucket === undefined) {
      // Forgetting a sender only hands it a full bucket early; once its bucket
      // has refilled (burst / perSecond seconds) forgetting it changes nothing.
      if (this.#buckets.size >= this.#capacity) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
      bucket = { tokens: this.#burst, at: now };
    } else {
      this.#buckets.delete(sender); // set again below: the Map's order is recency
      if (now > bucket.at) {
        const refill = ((now - bucket.at) * this.#perSecond) / 1000;
        bucket.tokens = Math.min(this.#burst, bucket.tokens + refill);
        bucket.at = now;
      }
    }
    this.#buckets.set(sender, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.#buckets.size;
  }
}

/**
 * Nonces of accepted signed requests, each kept until its request would be
 * stale anyway, at most `capacity` of them. Keep-until times are made
 * non-decreasing in insertion order, so expired nonces are always at the
 * front and pruning costs only what it removes.
 */
class NonceCache {
  readonly #keepUntil = new Map<string, number>();
  readonly #capacity: number;
  #last = -Infinity;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Remember `nonce` until at least `until`. */
  add(nonce: string, until: number, now: number): "added" | "replay" | "full" {
    // A request is fresh up to and including timestamp + window.
    for (const [old, keep] of this.#keepUntil) {
      if (keep >= now) break;
      this.#keepUntil.delete(old);
    }
    if (this.#keepUntil.has(nonce)) return "replay";
    if (this.#keepUntil.size >= this.#capacity) return "full";
    this.#last = Math.max(this.#last, until);
    this.#keepUntil.set(nonce, this.#last);
    return "added";
  }

  get size(): number {
    return this.#keepUntil.size;
  }
}

function positiveInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

/**
 * The checks a REGISTER, DEREGISTER, ROUTE or UNROUTE passes before it changes a
 * {@link TowerState}, in this order: per-sender rate limit
 * (`ERR|RATE_LIMITED|<name>`), signature when a secret is set
 * (`ERR|UNAUTHORIZED|<name>` for a missing or wrong one, `ERR|STALE|<name>`
 * for a timestamp more than {@link SIGNATURE_WINDOW_MS} off,
 * `ERR|REPLAY|<name>` for a nonce seen within the window), then the entry cap
 * for a REGISTER that would add an entry (`ERR|registry full`, the seed's
 * text) and the route cap for a ROUTE that would add a declaration
 * (`ERR|ROUTES_FULL|<name>`). Lookups are never checked. Memory is bounded: at most `maxSenders`
 * buckets and `maxNonces` nonces.
 *
 * The constructor throws a TypeError for invalid options.
 *
 * @example
 * ```ts
 * import { TowerGuard } from "./guard.ts";
 * import { respond } from "./server.ts";
 * import { signTowerRequest } from "./signing.ts";
 * import { TowerState } from "./state.ts";
 * const guard = new TowerGuard({ secret: "s3cret", rateLimit: { perSecond: 5, burst: 10 } });
 * const state = new TowerState();
 * const line = signTowerRequest("s3cret", "REGISTER|web|10.0.0.7|8080", Date.now());
 * respond(state, line, { guard, senderIp: "10.0.0.7" });          // "OK|REGISTERED|web"
 * respond(state, line, { guard, senderIp: "10.0.0.7" });          // "ERR|REPLAY|web"
 * respond(state, "REGISTER|web|10.0.0.7|8080", { guard, senderIp: "10.0.0.7" });
 * // "ERR|UNAUTHORIZED|web"
 * state.close();
 * ```
 */
export class TowerGuard {
  readonly #secret: string | undefined;
  readonly #maxEntries: number;
  readonly #maxRoutes: number;
  readonly #now: () => number;
  readonly #buckets: SenderBuckets | undefined;
  readonly #nonces: NonceCache | undefined;

  constructor(options: TowerGuardOptions = {}) {
    const { secret, rateLimit } = options;
    if (secret !== undefined) assertTowerSecret(secret);
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!(maxEntries === 0 || maxEntries === Infinity || positiveInteger(maxEntries))) {
      throw new TypeError(`maxEntries must be a positive integer, or 0 for no cap: ${maxEntries}`);
    }
    const maxRoutes = options.maxRoutes ?? DEFAULT_MAX_ROUTES;
    if (!(maxRoutes === 0 || maxRoutes === Infinity || positiveInteger(maxRoutes))) {
      throw new TypeError(`maxRoutes must be a positive integer, or 0 for no cap: ${maxRoutes}`);
    }
    const maxSenders = options.maxSenders ?? 10_000;
    const maxNonces = options.maxNonces ?? 100_000;
    if (!positiveInteger(maxSenders)) {
      throw new TypeError(`maxSenders must be a positive integer: ${maxSenders}`);
    }
    if (!positiveInteger(maxNonces)) {
      throw new TypeError(`maxNonces must be a positive integer: ${maxNonces}`);
    }
    if (rateLimit !== undefined) {
      const { perSecond, burst } = rateLimit;
      if (typeof perSecond !== "number" || !(perSecond > 0) || !Number.isFinite(perSecond)) {
        throw new TypeError(`rateLimit.perSecond must be a number above 0: ${perSecond}`);
      }
      if (typeof burst !== "number" || !(burst >= 1) || !Number.isFinite(burst)) {
        throw new TypeError(`rateLimit.burst must be a number of at least 1: ${burst}`);
      }
      this.#buckets = new SenderBuckets({ perSecond, burst }, maxSenders);
    }
    this.#secret = secret;
    this.#maxEntries = maxEntries === 0 ? Infinity : maxEntries;
    this.#maxRoutes = maxRoutes === 0 ? Infinity : maxRoutes;
    this.#now = options.now ?? Date.now;
    if (secret !== undefined) this.#nonces = new NonceCache(maxNonces);
  }

  /** True when REGISTER, DEREGISTER, ROUTE and UNROUTE must be signed. */
  get requiresSignature(): boolean {
    return this.#secret !== undefined;
  }

  /** Senders with a remembered rate-limit bucket (bounded by `maxSenders`). */
  get trackedSenders(): number {
    return this.#buckets?.size ?? 0;
  }

  /** Nonces remembered for replay detection (bounded by `maxNonces`). */
  get rememberedNonces(): number {
    return this.#nonces?.size ?? 0;
  }

  /**
   * The refusal for a request from `senderIp`, or undefined to let it
   * through. Only REGISTER, DEREGISTER, ROUTE and UNROUTE are checked.
   * Takes a rate-limit token and, once a signature is verified, uses up its
   * nonce (whatever the outcome after that): each signed request acts at
   * most once. `sender` (`ip:port`) is who declares a ROUTE, for its cap.
   */
  admit(
    state: TowerState,
    request: TowerRequest,
    signature: TowerSignature | undefined,
    senderIp: string,
    sender: string = senderIp,
  ): TowerErrorReply | undefined {
    if (!isSignedKind(request.kind)) return undefined;
    const name = (request as { name: string }).name;
    const now = this.#now();
    if (this.#buckets !== undefined && !this.#buckets.take(senderIp, now)) {
      return errorReply("RATE_LIMITED", name);
    }
    if (this.#secret !== undefined) {
      const refusal = this.#verify(this.#secret, signature, now);
      if (refusal !== undefined) return errorReply(refusal, name);
    }
    if (
      request.kind === "REGISTER" &&
      !state.hasRoomFor(request.name, request.host, request.port, this.#maxEntries)
    ) {
      return errorReply(REGISTRY_FULL);
    }
    if (
      request.kind === "ROUTE" &&
      !state.routes.hasRoomFor(request.name, request.route, sender, this.#maxRoutes)
    ) {
      return errorReply("ROUTES_FULL", request.name);
    }
    return undefined;
  }

  #verify(
    secret: string,
    signature: TowerSignature | undefined,
    now: number,
  ): TowerErrorReason | undefined {
    if (signature === undefined) return "UNAUTHORIZED";
    if (!macMatches(secret, signature)) return "UNAUTHORIZED";
    if (Math.abs(now - signature.timestampMs) > SIGNATURE_WINDOW_MS) return "STALE";
    // The request turns stale at timestamp + window: no need to remember it longer.
    switch (this.#nonces!.add(signature.nonce, signature.timestampMs + SIGNATURE_WINDOW_MS, now)) {
      case "added":
        return undefined;
      case "replay":
        return "REPLAY";
      case "full":
        return "RATE_LIMITED";
    }
  }
}
