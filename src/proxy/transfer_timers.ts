/**
 * The stall timeouts of one exchange, nginx's four and the wait for a first
 * response byte. A transfer has two lanes, each waiting on one party at a
 * time:
 *
 *   upload    the client's next body bytes (`--body-timeout`), or the
 *             backend taking what was sent (`--upstream-send-timeout`)
 *   download  the backend's first response byte (`--upstream-timeout`), its
 *             next bytes (`--upstream-read-timeout`), or the client taking
 *             what was sent (`--send-timeout`)
 *
 * Each lane keeps a deadline, refreshed whenever its party makes progress;
 * the connection's one deadline is kept at the earlier of the two. A limit
 * of 0 turns that wait's timeout off.
 *
 * @module
 */

/** What a lane is waiting for. */
export const Stall = {
  None: 0,
  /** The client's next request body bytes. */
  ClientBody: 1,
  /** The backend to take request body bytes it was sent. */
  BackendAccept: 2,
  /** The backend's first response byte, once the request is sent. */
  FirstByte: 3,
  /** The backend's next response bytes. */
  BackendRead: 4,
  /** The client to take response bytes it was sent. */
  ClientAccept: 5,
} as const;

/** One of {@link Stall}'s values. */
export type Stall = typeof Stall[keyof typeof Stall];

/** The limit of each wait, in ms (0: no limit). */
export interface StallLimits {
  bodyTimeoutMs: number;
  upstreamSendTimeoutMs: number;
  upstreamTimeoutMs: number;
  /** One try's wait for its first byte, when shorter than the whole wait (0: off). */
  tryTimeoutMs: number;
  upstreamReadTimeoutMs: number;
  sendTimeoutMs: number;
}

/**
 * The two lanes' waits and deadlines.
 *
 * @example
 * ```ts
 * import { Stall, TransferTimers } from "./transfer_timers.ts";
 * const limits = {
 *   bodyTimeoutMs: 60_000, upstreamSendTimeoutMs: 60_000, upstreamTimeoutMs: 60_000, tryTimeoutMs: 0,
 *   upstreamReadTimeoutMs: 60_000, sendTimeoutMs: 60_000,
 * };
 * const clock = { now: 1_000 };
 * const timers = new TransferTimers(limits, clock, { deadline: (at) => console.log(at) });
 * timers.upload(Stall.ClientBody);
 * timers.next;       // 61000
 * timers.due(61_000); // Stall.ClientBody
 * ```
 */
export class TransferTimers {
  /** The limits of requests without their own. */
  readonly #base: StallLimits;
  /** The current request's limits. */
  #limits: StallLimits;
  readonly #clock: { readonly now: number };
  readonly #owner: { deadline(at: number): void };
  #up: Stall = Stall.None;
  #upAt = 0;
  #down: Stall = Stall.None;
  #downAt = 0;
  /** When the wait for a first byte began. */
  #firstByteSince = 0;
  /** The client waits for 100 Continue before it sends its body: no body clock yet. */
  #awaitingContinue = false;

  /** `owner.deadline(at)` is told the earlier deadline (0: none) after every change. */
  constructor(
    limits: StallLimits,
    clock: { readonly now: number },
    owner: { deadline(at: number): void },
  ) {
    this.#base = this.#limits = limits;
    this.#clock = clock;
    this.#owner = owner;
  }

  /**
   * A request begins: nothing is waited for yet. `expectContinue`: its
   * client waits for a 100; `limits`: its own (a route's), else the base ones.
   */
  begin(expectContinue: boolean, limits: StallLimits = this.#base): void {
    this.#limits = limits;
    this.reset();
    this.#awaitingContinue = expectContinue;
  }

  /** The current request's limits. */
  get limits(): StallLimits {
    return this.#limits;
  }

  /** Neither lane waits (while another connection is made, say). */
  reset(): void {
    this.#up = this.#down = Stall.None;
    this.#upAt = this.#downAt = 0;
    this.#owner.deadline(0);
  }

  /** The upload lane now waits for `stall` (a wait that progressed starts over). */
  upload(stall: Stall): void {
    this.#up = stall;
    this.#upAt = this.#deadline(stall, this.#clock.now);
    this.#owner.deadline(this.next);
  }

  /** The download lane now waits for `stall`. */
  download(stall: Stall): void {
    const now = this.#clock.now;
    if (stall === Stall.FirstByte && this.#down !== Stall.FirstByte) this.#firstByteSince = now;
    this.#down = stall;
    this.#downAt = this.#deadline(stall, now);
    this.#owner.deadline(this.next);
  }

  /**
   * A try's own timeout passed while the whole wait goes on: the rest of
   * the `--upstream-timeout` from when the wait began.
   */
  firstByteRest(): void {
    this.#downAt = this.#firstByteSince + this.#limits.upstreamTimeoutMs;
    this.#owner.deadline(this.next);
  }

  /** How long the wait for a first byte has lasted at `now`. */
  firstByteWaited(now: number): number {
    return now - this.#firstByteSince;
  }

  /**
   * The request head went out. A client waiting for 100 Continue sends
   * nothing yet, so until the backend answers, the wait for its first byte
   * is what is timed.
   */
  requestSent(): void {
    if (this.#awaitingContinue) this.download(Stall.FirstByte);
  }

  /**
   * Body bytes were passed on (`moved`), or not; `blocked`: the backend's
   * buffer is full; `done`: the whole body went; `answered`: the response
   * has begun.
   */
  bodyPumped(moved: boolean, blocked: boolean, done: boolean, answered: boolean): void {
    if (this.#awaitingContinue && moved) {
      // The client sent its body without waiting for the 100: the backend now waits for it.
      this.#awaitingContinue = false;
      this.download(Stall.None);
    }
    if (done) {
      this.upload(Stall.None);
      if (!answered) this.download(Stall.FirstByte);
    } else if (blocked) this.upload(Stall.BackendAccept);
    else if (!this.#awaitingContinue) this.upload(Stall.ClientBody);
  }

  /** A 100 Continue (or another interim response) went to the client: its body clock starts. */
  continueSent(bodyDone: boolean): void {
    if (!this.#awaitingContinue) return;
    this.#awaitingContinue = false;
    this.download(Stall.None);
    if (!bodyDone) this.upload(Stall.ClientBody);
  }

  /** Response bytes arrived: the wait for the next ones starts over. */
  responseData(): void {
    if (this.#down === Stall.BackendRead) this.download(Stall.BackendRead);
  }

  /** The client's buffer drained: the wait is for the backend again. */
  clientDrained(): void {
    if (this.#down === Stall.ClientAccept) this.download(Stall.BackendRead);
  }

  /** The earlier deadline of the two lanes, or 0 when neither has one. */
  get next(): number {
    const up = this.#upAt, down = this.#downAt;
    if (up === 0) return down;
    if (down === 0) return up;
    return up < down ? up : down;
  }

  /** The wait whose deadline has passed at `now` (the earlier one), or None. */
  due(now: number): Stall {
    const up = this.#upAt !== 0 && this.#upAt <= now;
    const down = this.#downAt !== 0 && this.#downAt <= now;
    if (up && (!down || this.#upAt <= this.#downAt)) return this.#up;
    return down ? this.#down : Stall.None;
  }

  #deadline(stall: Stall, now: number): number {
    const ms = this.#limitOf(stall);
    return ms > 0 ? now + ms : 0;
  }

  #limitOf(stall: Stall): number {
    const l = this.#limits;
    switch (stall) {
      case Stall.ClientBody:
        return l.bodyTimeoutMs;
      case Stall.BackendAccept:
        return l.upstreamSendTimeoutMs;
      case Stall.FirstByte:
        return l.tryTimeoutMs > 0 && l.tryTimeoutMs < l.upstreamTimeoutMs
          ? l.tryTimeoutMs
          : l.upstreamTimeoutMs;
      case Stall.BackendRead:
        return l.upstreamReadTimeoutMs;
      case Stall.ClientAccept:
        return l.sendTimeoutMs;
      default:
        return 0;
    }
  }
}
