/**
 * The Tower: a tiny service registry spoken over UDP, one datagram each way.
 *
 * ```
 * REGISTER|<name>|<ip>|<port>    -> OK|REGISTERED|<name>
 *                                   or  ERR|REGISTER syntax: name|ip|port
 *                                   or  ERR|registry full (entry cap, new entries only)
 * LOOKUP|<name>                  -> OK|LOOKUP|<name>|<ip>|<port>  or  ERR|NOT_FOUND|<name>
 * LOOKUPALL|<name>               -> OK|LOOKUPALL|<name>|<n>|<ip>:<port>,...
 *                                   or  ERR|NOT_FOUND|<name>
 * DEREGISTER|<name>|<ip>|<port>  -> OK|DEREGISTERED|<name>  or  ERR|NOT_FOUND|<name>
 *                                   or  ERR|DEREGISTER syntax: name|ip|port
 * LIST                           -> OK|LIST|<n>|<name>:<ip>:<port>:<ttl_left>,...
 * PING                           -> OK|PONG|tower
 * anything else                  -> ERR|unknown command
 * ```
 *
 * With declared routes on (`--tower-routes`, `gatehouse tower --routes`;
 * docs/tower-routes.md), services also declare the routes that reach them:
 *
 * ```
 * ROUTE|<name>|<[host]/prefix>[|<JSON rules>]  -> OK|ROUTED|<name>
 * UNROUTE|<name>|<[host]/prefix>               -> OK|UNROUTED|<name>  or  ERR|NOT_FOUND|<name>
 * ROUTES[|<page>]                              -> OK|ROUTES|<version>|<page>|<pages>|<n>
 *                                                 and n lines <order>|<name>|<route>|<sender>[|<rules>]
 * ```
 *
 * A route is declared by each address that sends ROUTE for it and lives
 * {@link DEFAULT_TTL_MS} after its last ROUTE from any of them. Routes are
 * never shown by LIST, LOOKUP or LOOKUPALL. Without the option, the three
 * get `ERR|ROUTES_DISABLED|<name>` (`ERR|ROUTES_DISABLED` for ROUTES).
 *
 * Every `ERR` for these commands is the seed Tower's text, byte for byte
 * (errors.ts), and changes nothing. A REGISTER or DEREGISTER with too few or
 * too many fields, or a name, address or port Gatehouse does not accept,
 * gets the syntax text. A LOOKUP or LOOKUPALL of a name it does not hold,
 * an empty or invalid one included, gets `ERR|NOT_FOUND|<name as sent>`
 * (cut at 127 characters, as the seed does). As in the seed, a command with
 * arguments is its word and a "|": a bare `LOOKUP` is an unknown command.
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
 * and may rate-limit them per sender. Those refusals are
 * `ERR|UNAUTHORIZED|<name>`, `ERR|STALE|<name>`, `ERR|REPLAY|<name>` and
 * `ERR|RATE_LIMITED|<name>` ({@link TowerGuard}); a signed line whose fields
 * have the wrong form gets the seed's syntax text. Lookups, LIST and PING
 * are never signed.
 *
 * ROUTE and UNROUTE are signed, allowed and rate-limited like REGISTER;
 * beyond the route cap a new declaration gets `ERR|ROUTES_FULL|<name>`.
 *
 * `LOOKUPALL`, the route commands, the signed form and those named refusals are Gatehouse's;
 * every other reply has the seed Tower's exact form, so seed clients keep
 * working. Replies add no newline; one trailing "\n" or "\r\n" on a request
 * is tolerated because `echo` adds one. Datagrams over
 * {@link MAX_DATAGRAM_BYTES} are dropped unanswered. In `LOOKUPALL` and
 * `LIST`, IPv6 addresses are bracketed (`[::1]:8080`) so the `:` separators
 * stay unambiguous.
 *
 * Entries expire {@link DEFAULT_TTL_MS} after their last REGISTER (REGISTER
 * is the heartbeat). Round robin is "least recently served": a never-served
 * replica goes first, and serving one moves it to the back.
 *
 * This module is the Tower's public face; each concept lives in a part under
 * src/tower/, lowest first: the protocol as values (protocol.ts, its
 * counted lists in counted.ts, its `ERR` texts in errors.ts), signing
 * (signing.ts), the in-memory {@link TowerState} (state.ts) with its
 * declared routes ({@link TowerRoutes}, routes.ts, expiring by
 * expiry_timer.ts; their wire form in route_protocol.ts), admission of
 * changes ({@link TowerGuard}, guard.ts), and the UDP ends ({@link startTowerServer} in server.ts,
 * {@link TowerClient} in client.ts, which matches replies to requests by
 * matching.ts), which receive their socket factory ({@link BindUdp}) from
 * the runtime layer.
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
export type { ListEntry, TowerReply, TowerRequest } from "./tower/protocol.ts";
export type { RouteListing, RouteReply, RouteRequest } from "./tower/route_protocol.ts";
export {
  DEREGISTER_SYNTAX,
  REGISTER_SYNTAX,
  REGISTRY_FULL,
  ROUTE_SYNTAX,
  ROUTES_SYNTAX,
  UNKNOWN_COMMAND,
  UNROUTE_SYNTAX,
} from "./tower/errors.ts";
export type { TowerErrorReason, TowerErrorReply } from "./tower/errors.ts";
export { SIGNATURE_WINDOW_MS, signTowerRequest } from "./tower/signing.ts";
export type { TowerSignature } from "./tower/signing.ts";
export { TowerState } from "./tower/state.ts";
export type { TowerStateOptions } from "./tower/state.ts";
export { DEFAULT_MAX_ROUTES, TowerRoutes } from "./tower/routes.ts";
export { declaredRouteOf } from "./tower/route_protocol.ts";
export type { RouteDeclaration, TowerRoutesOptions } from "./tower/routes.ts";
export { DEFAULT_MAX_ENTRIES, TowerGuard } from "./tower/guard.ts";
export type { TowerGuardOptions, TowerRateLimit } from "./tower/guard.ts";
export { handleRequest, respond, startTowerServer } from "./tower/server.ts";
export type { BindUdp, RespondOptions, TowerServer, TowerServerOptions } from "./tower/server.ts";
export { TowerClient, TowerTimeoutError } from "./tower/client.ts";
export type { TowerClientOptions } from "./tower/client.ts";
