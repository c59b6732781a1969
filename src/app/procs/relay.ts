/**
 * `--procs N`: how the primary keeps its workers' Tower states in step. It
 * writes every REGISTER and DEREGISTER its Tower accepts, and every ROUTE
 * and UNROUTE (declared routes), to each worker's stdin as one line, after
 * a snapshot of the live entries and declarations when the worker starts.
 * A relayed REGISTER or ROUTE carries its age, so TTLs expire at the same
 * moment everywhere, and a ROUTE the route's order on the primary, so every
 * process settles a conflict between two routes alike.
 *
 * @module
 */

import process from "node:process";
import { type RouteDeclaration, TowerState, type TowerStateOptions } from "../../tower.ts";
import { readRules } from "../../tower/route_protocol.ts";

/**
 * A REGISTER line: `R|name|host|port|ageMs[|weight]` (the entry was
 * refreshed `ageMs` ago; its weight when not 1). Names and hosts never
 * contain "|" or a newline (the Tower validates them).
 *
 * @example
 * ```ts
 * registerLine("web", "10.0.0.7", 8080, 0); // "R|web|10.0.0.7|8080|0\n"
 * ```
 */
export function registerLine(
  name: string,
  host: string,
  port: number,
  ageMs: number,
  weight = 1,
): string {
  const age = Math.max(0, Math.round(ageMs));
  return weight === 1
    ? `R|${name}|${host}|${port}|${age}\n`
    : `R|${name}|${host}|${port}|${age}|${weight}\n`;
}

/**
 * A DEREGISTER line: `D|name|host|port`.
 *
 * @example
 * ```ts
 * deregisterLine("web", "10.0.0.7", 8080); // "D|web|10.0.0.7|8080\n"
 * ```
 */
export function deregisterLine(name: string, host: string, port: number): string {
  return `D|${name}|${host}|${port}\n`;
}

/**
 * A ROUTE line: `A|order|ageMs|sender|name|route[|rules]` (the route's
 * order on the primary; the declaration refreshed `ageMs` ago; its rules,
 * compact JSON, are the rest of the line). No field before the rules holds
 * "|", and JSON holds no newline.
 *
 * @example
 * ```ts
 * routeLine({ order: 3, name: "api", route: "/api", sender: "10.0.0.7:41000", ageMs: 0 });
 * // "A|3|0|10.0.0.7:41000|api|/api\n"
 * ```
 */
export function routeLine(d: RouteDeclaration): string {
  const age = Math.max(0, Math.round(d.ageMs));
  const rules = d.rules === undefined ? "" : `|${d.rules}`;
  return `A|${d.order}|${age}|${d.sender}|${d.name}|${d.route}${rules}\n`;
}

/**
 * An UNROUTE line: `W|sender|name|route` (the worker withdraws as the
 * primary did: the sender's declaration, or the route when it is none).
 *
 * @example
 * ```ts
 * unrouteLine("api", "/api", "10.0.0.7:41000"); // "W|10.0.0.7:41000|api|/api\n"
 * ```
 */
export function unrouteLine(name: string, route: string, sender: string): string {
  return `W|${sender}|${name}|${route}\n`;
}

/**
 * The primary's Tower state: a {@link TowerState} that also tells `onChange`
 * every REGISTER (new or heartbeat) and DEREGISTER it accepts, and can list
 * its live entries with their exact age for a starting worker. It keeps
 * nothing per entry of its own: the ages come from the state's entries, and
 * go when they expire or are deregistered.
 *
 * @example
 * ```ts
 * import { RelayedTowerState } from "./relay.ts";
 * const lines: string[] = [];
 * const state = new RelayedTowerState((line) => lines.push(line));
 * state.register("web", "10.0.0.7", 8080); // relays "R|web|10.0.0.7|8080|0\n"
 * state.close();
 * ```
 */
export class RelayedTowerState extends TowerState {
  /** Called with each relay line. */
  onChange: ((line: string) => void) | null;

  constructor(onChange: ((line: string) => void) | null = null, options: TowerStateOptions = {}) {
    super(options);
    this.onChange = onChange;
    this.routes.onDeclared = (d) => this.onChange?.(routeLine(d));
    this.routes.onWithdrawn = (name, route, sender) =>
      this.onChange?.(unrouteLine(name, route, sender));
  }

  override register(name: string, host: string, port: number, weight = 1): boolean {
    const isNew = super.register(name, host, port, weight);
    this.onChange?.(registerLine(name, host, port, 0, weight));
    return isNew;
  }

  override deregister(name: string, host: string, port: number): boolean {
    const removed = super.deregister(name, host, port);
    this.onChange?.(deregisterLine(name, host, port));
    return removed;
  }

  /**
   * Every live entry as REGISTER lines with its age, then every live route
   * declaration as ROUTE lines (what a new worker is sent first).
   */
  snapshot(): string {
    let out = "";
    for (const e of this.ages()) out += registerLine(e.name, e.host, e.port, e.ageMs, e.weight);
    for (const d of this.routes.declarations()) out += routeLine(d);
    return out;
  }
}

/**
 * A worker's Tower state and how relay lines change it. A REGISTER that is
 * `ageMs` old is applied with the state's clock set back by that much, so
 * the entry expires when the primary's does.
 *
 * @example
 * ```ts
 * const w = new WorkerTowerState();
 * w.apply("R|web|10.0.0.7|8080|1500");
 * w.state.replicas("web"); // [{ host: "10.0.0.7", port: 8080 }]
 * ```
 */
export class WorkerTowerState {
  readonly state: TowerState;
  #skew = 0;

  constructor(options: TowerStateOptions = {}) {
    const clock = options.now ?? Date.now;
    this.state = new TowerState({
      ...options,
      now: () => this.#skew === 0 ? clock() : clock() - this.#skew,
    });
  }

  /** Apply one relay line; false when it is not one (it is ignored). */
  apply(line: string): boolean {
    const f = line.trim().split("|");
    const port = Number(f[3]);
    try {
      if (f[0] === "R" && (f.length === 5 || f.length === 6)) {
        this.#skew = Number(f[4]) || 0;
        try {
          this.state.register(f[1], f[2], port, f.length === 6 ? Number(f[5]) : 1);
        } finally {
          this.#skew = 0;
        }
        return true;
      }
      if (f[0] === "D" && f.length === 4) {
        this.state.deregister(f[1], f[2], port);
        return true;
      }
      if (f[0] === "A" && f.length >= 6) {
        const [, order, age, sender, name, route] = f;
        if (!/^[1-9][0-9]*$/.test(order) || !/^[0-9]+$/.test(age)) return false;
        const rules = f.length > 6 ? readRules(f.slice(6).join("|")) : undefined;
        const at = { order: Number(order), ageMs: Number(age) };
        this.state.routes.declare(name, route, rules, sender, at);
        return true;
      }
      if (f[0] === "W" && f.length === 4) {
        this.state.routes.withdraw(f[2], f[3], f[1]);
        return true;
      }
    } catch {
      // An invalid entry (the state refuses it) changes nothing.
    }
    return false;
  }

  close(): void {
    this.state.close();
  }
}

/**
 * Feed relay lines from this process's stdin into `target`; `onEnd` runs once
 * stdin ends (the primary is gone or closed the pipe).
 *
 * @example
 * ```ts
 * import { followRelay, WorkerTowerState } from "./relay.ts";
 * const worker = new WorkerTowerState();
 * followRelay(worker, () => worker.close());
 * ```
 */
export function followRelay(target: { apply(line: string): unknown }, onEnd: () => void): void {
  let partial = "";
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  const stdin = process.stdin;
  stdin.setEncoding("utf8");
  stdin.on("data", (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      target.apply(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
  });
  stdin.on("end", end);
  stdin.on("close", end);
  stdin.on("error", end);
}
