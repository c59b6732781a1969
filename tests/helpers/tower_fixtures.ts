/**
 * Fixtures for the Tower's unit tests: a manual clock, states closed after
 * each test, a state and guard answering the way the UDP server does, and a
 * fake UDP network. No real socket, so the tests run under Deno and Bun.
 *
 * @module
 */

import assert from "node:assert/strict";
import { TowerGuard, type TowerGuardOptions } from "../../src/tower/guard.ts";
import { respond, type RespondOptions } from "../../src/tower/server.ts";
import { signTowerRequest } from "../../src/tower/signing.ts";
import { TowerState, type TowerStateOptions } from "../../src/tower/state.ts";
import type { Datagram, UdpSocket } from "../../src/runtime/types.ts";

/**
 * The shared secret of the tests' signed requests.
 *
 * @example
 * ```ts
 * import { SECRET, T0 } from "./tower_fixtures.ts";
 * import { signTowerRequest } from "../../src/tower/signing.ts";
 * signTowerRequest(SECRET, "REGISTER|web|10.0.0.7|8080", T0);
 * ```
 */
export const SECRET = "gatehouse-example-secret";

/**
 * Where every {@link Clock} starts, Unix milliseconds.
 *
 * @example
 * ```ts
 * import { Clock, T0 } from "./tower_fixtures.ts";
 * new Clock().t === T0; // true
 * ```
 */
export const T0 = 1_700_000_000_000;

/**
 * A manual clock, in milliseconds.
 *
 * @example
 * ```ts
 * import { Clock } from "./tower_fixtures.ts";
 * const clock = new Clock();
 * clock.advance(1_000);
 * clock.now(); // 1_700_000_001_000
 * ```
 */
export class Clock {
  t = T0;
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/**
 * States the current test opened; each test file closes them in `afterEach`.
 *
 * @example
 * ```ts
 * import { afterEach } from "node:test";
 * import { opened } from "./tower_fixtures.ts";
 * afterEach(() => {
 *   for (const state of opened.splice(0)) state.close();
 * });
 * ```
 */
export const opened: TowerState[] = [];

/**
 * A state on a manual clock with no background sweep, added to {@link opened}.
 *
 * @example
 * ```ts
 * import { newState } from "./tower_fixtures.ts";
 * const { state, clock } = newState({ ttlMs: 1_000 });
 * state.register("web", "10.0.0.7", 8080);
 * clock.advance(1_000);
 * state.lookup("web"); // undefined: expired
 * ```
 */
export function newState(options: TowerStateOptions = {}): { state: TowerState; clock: Clock } {
  const clock = new Clock();
  const state = new TowerState({ now: clock.now, sweepIntervalMs: 0, ...options });
  opened.push(state);
  return { state, clock };
}

/**
 * A state and a guard sharing a manual clock, and `ask(line, sender?)`
 * answering the way the UDP server does.
 *
 * @example
 * ```ts
 * import { SECRET, setup } from "./tower_fixtures.ts";
 * const { ask, sign } = setup({ secret: SECRET });
 * ask(sign("REGISTER|web|10.0.0.7|8080")); // "OK|REGISTERED|web"
 * ask("REGISTER|web|10.0.0.7|8080");       // "ERR|UNAUTHORIZED|web"
 * ```
 */
export function setup(options: TowerGuardOptions = {}, extra: RespondOptions = {}) {
  const clock = new Clock();
  const state = new TowerState({ now: clock.now, sweepIntervalMs: 0 });
  opened.push(state);
  const guard = new TowerGuard({ now: clock.now, ...options });
  const ask = (line: string, senderIp = "10.9.9.9") =>
    respond(state, line, { ...extra, guard, senderIp });
  const sign = (line: string, at = clock.t, nonce?: string) =>
    signTowerRequest(SECRET, line, at, nonce);
  return { clock, state, guard, ask, sign };
}

/**
 * A BindUdp whose sockets record what they send and take datagrams from the
 * test. Port 0 binds 40000, then 40001, ...
 *
 * @example
 * ```ts
 * import { fakeNetwork } from "./tower_fixtures.ts";
 * import { startTowerServer } from "../../src/tower/server.ts";
 * const net = fakeNetwork();
 * const tower = await startTowerServer({ hostname: "0.0.0.0", port: 7772, bindUdp: net.bindUdp });
 * net.deliver(7772, "PING", "10.1.1.1");
 * net.sent; // [{ text: "OK|PONG|tower", port: 5000, host: "10.1.1.1" }]
 * tower.close();
 * ```
 */
export function fakeNetwork() {
  const sent: { text: string; port: number; host: string }[] = [];
  const sockets: { port: number; deliver: (d: Datagram) => void }[] = [];
  let binds = 0;
  const bindUdp = (hostname: string, port: number, onMessage: (d: Datagram) => void) => {
    binds++;
    const bound = port === 0 ? 40_000 + sockets.length : port;
    sockets.push({ port: bound, deliver: onMessage });
    const socket: UdpSocket = {
      hostname,
      port: bound,
      send: (data, toPort, toHost) => {
        sent.push({ text: new TextDecoder().decode(data), port: toPort, host: toHost });
      },
      close: () => {},
    };
    return Promise.resolve(socket);
  };
  /** Deliver `text` to the socket bound on `port`, as if from `host:fromPort`. */
  const deliver = (port: number, text: string, host = "10.9.9.9", fromPort = 5000) => {
    const socket = sockets.find((s) => s.port === port);
    assert.ok(socket, `no socket on ${port}`);
    socket.deliver({ data: new TextEncoder().encode(text), host, port: fromPort });
  };
  return { bindUdp, sent, deliver, binds: () => binds };
}
