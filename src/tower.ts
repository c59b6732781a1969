/**
 * The Tower: a tiny service registry spoken over UDP, one datagram each way.
 *
 * ```
 * REGISTER|<name>|<ip>|<port>    -> OK|REGISTERED|<name>
 * LOOKUP|<name>                  -> OK|LOOKUP|<name>|<ip>|<port>  or  ERR|NOT_FOUND|<name>
 * LOOKUPALL|<name>               -> OK|LOOKUPALL|<name>|<n>|<ip>:<port>,...
 *                                   or  ERR|NOT_FOUND|<name>
 * DEREGISTER|<name>|<ip>|<port>  -> OK|DEREGISTERED|<name>  or  ERR|NOT_FOUND|<name>
 * LIST                           -> OK|LIST|<n>|<name>:<ip>:<port>:<ttl_left>,...
 * PING                           -> OK|PONG|tower
 * anything else                  -> ERR|UNKNOWN_COMMAND, ERR|MALFORMED, ERR|BAD_NAME,
 *                                   ERR|BAD_HOST or ERR|BAD_PORT (no state change)
 * ```
 *
 * A server may restrict REGISTER and DEREGISTER to some senders; refused
 * ones get `ERR|FORBIDDEN|<name>`.
 *
 * A server may also require them to be signed with a shared secret
 * (docs/tower-signing.md):
 *
 * ```
 * REGISTER|<name>|<ip>|<port>|<unix_ms>|<nonce>|<hmac>
 * DEREGISTER|<name>|<ip>|<port>|<unix_ms>|<nonce>|<hmac>
 *   hmac = hex(HMAC-SHA256(secret, everything before the last "|"))
 * ```
 *
 * and may rate-limit them per sender and cap the number of entries. Those
 * refusals are `ERR|UNAUTHORIZED|<name>`, `ERR|STALE|<name>`,
 * `ERR|REPLAY|<name>`, `ERR|RATE_LIMITED|<name>` and `ERR|FULL|<name>`
 * ({@link TowerGuard}). Lookups, LIST and PING are never signed.
 *
 * `LOOKUPALL`, the signed form and the specific ERR reasons are Gatehouse's;
 * every other reply has the seed Tower's exact form, so seed clients keep
 * working. Replies carry no trailing newline; one trailing "\n" or "\r\n" on
 * a request is tolerated because `echo` adds one. Datagrams over
 * {@link MAX_DATAGRAM_BYTES} are dropped unanswered. In `LOOKUPALL` and
 * `LIST`, IPv6 addresses are bracketed (`[::1]:8080`) so the `:` separators
 * stay unambiguous.
 *
 * Entries expire {@link DEFAULT_TTL_MS} after their last REGISTER (REGISTER
 * is the heartbeat). Round robin is "least recently served": a never-served
 * replica goes first, and serving one moves it to the back.
 *
 * This module is the Tower's public face; each concept lives in a part under
 * src/tower/, lowest first: the protocol as values (protocol.ts), signing
 * (signing.ts), the in-memory {@link TowerState} (state.ts), admission of
 * changes ({@link TowerGuard}, guard.ts), and the UDP ends
 * ({@link startTowerServer} in server.ts, {@link TowerClient} in client.ts),
 * which receive their socket factory ({@link BindUdp}) from the runtime layer.
 *
 * @module
 */

export {
  DEFAULT_TOWER_PORT,
  DEFAULT_TTL_MS,
  formatReply,
  formatRequest,
  MAX_DATAGRAM_BYTES,
  MAX_REPLY_BYTES,
  parseReply,
  parseRequest,
} from "./tower/protocol.ts";
export type {
  ListEntry,
  TowerErrorReason,
  TowerErrorReply,
  TowerReply,
  TowerRequest,
} from "./tower/protocol.ts";
export { SIGNATURE_WINDOW_MS, signTowerRequest } from "./tower/signing.ts";
export type { TowerSignature } from "./tower/signing.ts";
export { TowerState } from "./tower/state.ts";
export type { TowerStateOptions } from "./tower/state.ts";
export { DEFAULT_MAX_ENTRIES, TowerGuard } from "./tower/guard.ts";
export type { TowerGuardOptions, TowerRateLimit } from "./tower/guard.ts";
export { handleRequest, respond, startTowerServer } from "./tower/server.ts";
export type { BindUdp, RespondOptions, TowerServer, TowerServerOptions } from "./tower/server.ts";
export { TowerClient, TowerTimeoutError } from "./tower/client.ts";
export type { TowerClientOptions } from "./tower/client.ts";
