/**
 * A stand-in for the seed Tower over real UDP: the seed's commands with its
 * parsing and its reply texts (`ERR|unknown command` to LOOKUPALL,
 * `ERR|REGISTER syntax: name|ip|port` for an address over 15 characters,
 * `ERR|registry full`), and replies that can be held back and sent out of
 * order, to show that a client matches them to the right requests.
 *
 * @module
 */

import { createSocket } from "node:dgram";

/**
 * Options for {@link startSeedTower}.
 *
 * @example
 * ```ts
 * import type { SeedTowerOptions } from "./tower_seed.ts";
 * const options: SeedTowerOptions = { maxEntries: 1, reorderAfterMs: 40 };
 * ```
 */
export interface SeedTowerOptions {
  /** Entry slots; a new REGISTER beyond them gets `ERR|registry full`. Default 1024, as the seed. */
  maxEntries?: number;
  /**
   * Hold every reply until no datagram has come for this long, then send the
   * held ones: first the errors that name no service, then the rest last
   * first (the order that most misleads a client matching by name or by
   * age). Default: answer each datagram at once.
   */
  reorderAfterMs?: number;
}

/**
 * A running seed-like Tower.
 *
 * @example
 * ```ts
 * import { startSeedTower, type SeedTower } from "./tower_seed.ts";
 * const seed: SeedTower = await startSeedTower();
 * seed.received; // every datagram, in order of arrival
 * seed.close();
 * ```
 */
export interface SeedTower {
  port: number;
  /** The datagrams received, in order. */
  received: string[];
  close(): void;
}

interface Entry {
  name: string;
  ip: string;
  port: number;
  served: number;
}

// The seed reads `%127[^|]|%15[^|]|%d`: a name of 1-127 characters, an address of 1-15, an integer.
const SEED_FIELDS = /^([^|]{1,127})\|([^|]{1,15})\|[ \t\n\r\f\v]*([+-]?[0-9]+)/;

/** The seed's reply to one command (its TTL plays no part in these tests). */
function seedReply(command: string, entries: Entry[], maxEntries: number): string {
  const change = /^(REGISTER|DEREGISTER)\|/.exec(command);
  if (change !== null) {
    const fields = SEED_FIELDS.exec(command.slice(change[0].length));
    if (fields === null) return `ERR|${change[1]} syntax: name|ip|port`;
    const [, name, ip, portText] = fields;
    const port = Number(portText);
    const index = entries.findIndex((e) => e.name === name && e.ip === ip && e.port === port);
    if (change[1] === "DEREGISTER") {
      if (index === -1) return `ERR|NOT_FOUND|${name}`;
      entries.splice(index, 1);
      return `OK|DEREGISTERED|${name}`;
    }
    if (index === -1) {
      if (entries.length >= maxEntries) return "ERR|registry full";
      entries.push({ name, ip, port, served: 0 });
    }
    return `OK|REGISTERED|${name}`;
  }
  if (command.startsWith("LOOKUP|")) {
    const name = command.slice("LOOKUP|".length);
    const pick = entries.filter((e) => e.name === name).sort((a, b) => a.served - b.served)[0];
    if (pick === undefined) return `ERR|NOT_FOUND|${name.slice(0, 127)}`;
    pick.served++;
    return `OK|LOOKUP|${name}|${pick.ip}|${pick.port}`;
  }
  if (command === "LIST") {
    return `OK|LIST|${entries.length}|${
      entries.map((e) => `${e.name}:${e.ip}:${e.port}:30`).join(",")
    }`;
  }
  if (command === "PING") return "OK|PONG|tower";
  return "ERR|unknown command";
}

/**
 * Start a seed-like Tower on 127.0.0.1 and a free port, holding `entries`
 * from the start.
 *
 * @example
 * ```ts
 * import { startSeedTower } from "./tower_seed.ts";
 * const seed = await startSeedTower({ reorderAfterMs: 40 }, [
 *   { name: "web", ip: "127.0.0.1", port: 8081 },
 * ]);
 * // LOOKUPALL|web -> ERR|unknown command, LOOKUP|web -> OK|LOOKUP|web|127.0.0.1|8081
 * seed.close();
 * ```
 */
export function startSeedTower(
  options: SeedTowerOptions = {},
  entries: { name: string; ip: string; port: number }[] = [],
): Promise<SeedTower> {
  const maxEntries = options.maxEntries ?? 1024;
  const held: { text: string; port: number; address: string }[] = [];
  const table: Entry[] = entries.map((e) => ({ ...e, served: 0 }));
  const received: string[] = [];
  const socket = createSocket("udp4");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const send = (text: string, port: number, address: string) =>
    socket.send(new TextEncoder().encode(text), port, address);
  socket.on("message", (message, from) => {
    const command = new TextDecoder().decode(message);
    received.push(command);
    const reply = seedReply(command, table, maxEntries);
    if (options.reorderAfterMs === undefined) {
      send(reply, from.port, from.address);
      return;
    }
    held.push({ text: reply, port: from.port, address: from.address });
    clearTimeout(timer);
    timer = setTimeout(() => {
      const replies = held.splice(0).reverse();
      const nameless = (text: string) => /^ERR\|[^|]*$|syntax: /.test(text);
      const ordered = [
        ...replies.filter((r) => nameless(r.text)),
        ...replies.filter((r) => !nameless(r.text)),
      ];
      for (const r of ordered) send(r.text, r.port, r.address);
    }, options.reorderAfterMs);
  });
  return new Promise((resolve) =>
    socket.bind(0, "127.0.0.1", () =>
      resolve({
        port: socket.address().port,
        received,
        close: () => {
          clearTimeout(timer);
          socket.close();
        },
      }))
  );
}
