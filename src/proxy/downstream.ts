/**
 * What an exchange needs of the client connection it runs on: the one
 * interface through which a request's phases reach their connection
 * (connection.ts implements it).
 *
 * @module
 */

import type { HeadSpace } from "../http1/head_writer.ts";
import type { Socket } from "../runtime/types.ts";
import type { ClientInput } from "./client_input.ts";
import type { ClientInfo } from "./forwarded.ts";
import type { ProxyError } from "./errors.ts";
import type { RequestId } from "./request_id.ts";
import type { RequestRecord } from "./observe.ts";

/**
 * The client connection, as an exchange sees it.
 *
 * @example
 * ```ts
 * import type { Downstream } from "./downstream.ts";
 * declare const down: Downstream;
 * down.fail({ kind: "NoRoute", host: "x", path: "/" }, false, "GET", "/");
 * ```
 */
export interface Downstream {
  /** The client's socket. */
  readonly socket: Socket;
  /** What the current request was, filled as it ends, for the observers (observe.ts). */
  readonly record: RequestRecord;
  /** Unconsumed client bytes: the request body comes from here. */
  readonly input: ClientInput;
  /** Where response heads are built. */
  readonly replyHead: HeadSpace;
  /** The current request's id (set before the exchange starts). */
  readonly requestId: RequestId;
  /** What the forwarding headers say about this client. */
  clientInfo(): ClientInfo;
  /** No request follows the current one (the client asked to close, or half-closed). */
  readonly closeAfter: boolean;
  /** This request asks that the connection close after it. */
  closeAfterThis(): void;
  /** Call the exchange's `expire` at `at` (a clock time), or never with 0. */
  setDeadline(at: number): void;
  /** The response has been sent; `close`: the connection must end now. */
  exchangeDone(close: boolean): void;
  /** Answer the request with an error; `close`: end the connection after it. */
  fail(error: ProxyError, close: boolean, method: string, target: string): void;
  /**
   * Answer the request with a response the ingress made itself (a route's
   * fixed response or redirect), whose status is `status`; `close`: it says
   * `Connection: close` and the connection ends after it.
   */
  answer(
    response: Uint8Array,
    status: number,
    close: boolean,
    method: string,
    target: string,
  ): void;
  /** The backend switched protocols: pipe both sockets from now on. */
  tunnel(backend: Socket, backendLeftover: Uint8Array): void;
  /** End the connection at once (a response already went out in part). */
  close(): void;
}
