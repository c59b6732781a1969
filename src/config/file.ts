/**
 * A config file's sections, checked for shape: the top level's settings
 * (every ingress flag's name is a key), `listeners:`, `services:` and
 * `routes:`. Values are read later with the flags' own parsers
 * (ingress_config.ts), so a file and the command line accept exactly the
 * same values.
 *
 * @module
 */

import { isValidServiceName } from "../net/address.ts";
import type { Problem } from "./errors.ts";
import type { Settings } from "./settings.ts";
import { isMapping, type Plain, YamlTree } from "./yaml_tree.ts";

/** Top-level keys that are sections rather than settings. */
const SECTIONS = new Set(["listeners", "services", "routes"]);

/** One `listeners:` entry as written. */
export interface ListenerEntry {
  /** `[HOST:]PORT`, as `--listen` takes it. */
  listen: string;
  /** Certificate and key paths, or null for plain HTTP. */
  tls: { certPath: string; keyPath: string } | null;
  /** Reports a problem with this entry. */
  problem: Problem;
}

/** One `routes:` entry, to be read by route_entry.ts. */
export interface RouteEntry {
  entry: Plain;
  /** "gatehouse.yaml:12". */
  origin: string;
  problem: Problem;
}

/** A config file's sections. */
export interface ConfigFile {
  /** The file's path as given. */
  path: string;
  /** The top level's settings. */
  settings: Settings;
  /** The `listeners:` section, or null when absent. */
  listeners: ListenerEntry[] | null;
  /** Each `services:` entry's own settings. */
  services: Map<string, Settings>;
  routes: RouteEntry[];
}

/** What keys a config file may have. */
export interface FileKeys {
  /** Top-level settings (flag names). */
  settings: ReadonlySet<string>;
  /** Of those, the ones that are switches (true or false). */
  switches: ReadonlySet<string>;
  /** Keys a `services:` entry may set. */
  service: ReadonlySet<string>;
}

/** A scalar as a setting's text; a switch's false is "not set". */
function settingText(
  value: Plain,
  name: string,
  switches: ReadonlySet<string>,
  problem: Problem,
): string | undefined {
  if (switches.has(name)) {
    if (typeof value !== "boolean") return problem(name, "must be true or false");
    return value ? "true" : undefined;
  }
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  // `hedge: true` reads as the flag's "on".
  if (typeof value === "boolean") return value ? "on" : "off";
  return problem(name, "must be a single value (text, a number or true/false)");
}

/** Settings from a mapping of scalars, named by their place in the file. */
function mappingSettings(
  tree: YamlTree,
  path: string,
  values: { [key: string]: Plain },
  allowed: ReadonlySet<string>,
  switches: ReadonlySet<string>,
  what: string,
): Settings {
  const problem = tree.problemAt(path);
  const texts = new Map<string, string>();
  for (const [key, value] of Object.entries(values)) {
    if (path === "" && SECTIONS.has(key)) continue;
    if (!allowed.has(key)) problem(key, `is not ${what}`);
    const text = settingText(value, key, switches, problem);
    if (text !== undefined) texts.set(key, text);
  }
  return {
    get: (name) => texts.get(name),
    label: (name) => {
      const at = path === "" ? name : `${path}.${name}`;
      return `${tree.file}:${tree.lineOf(at)}: ${at}`;
    },
  };
}

/**
 * Read a config file's text. Throws a ConfigError naming the file, the line
 * and the key for a syntax error, an unknown key or a section of the wrong
 * shape.
 *
 * @example
 * ```ts
 * import { readConfigFile } from "./file.ts";
 * const keys = { settings: new Set(["grace"]), switches: new Set<string>(), service: new Set(["lb"]) };
 * const file = readConfigFile("g.yaml", "grace: 5s\nroutes:\n  - /:web\n", keys);
 * file.settings.get("grace"); // "5s"
 * file.routes[0].origin; // "g.yaml:3"
 * ```
 */
export function readConfigFile(path: string, text: string, keys: FileKeys): ConfigFile {
  const tree = new YamlTree(path, text);
  const top = tree.problemAt("");
  const root = tree.root ?? {};
  if (!isMapping(root)) top("", "the file must be a mapping of keys (listeners:, routes:, ...)");
  const r = root as { [key: string]: Plain };
  const settings = mappingSettings(tree, "", r, keys.settings, keys.switches, "a setting");

  let listeners: ListenerEntry[] | null = null;
  if (r.listeners !== undefined && r.listeners !== null) {
    if (!Array.isArray(r.listeners)) top("listeners", "must be a list of {listen, tls}");
    listeners = (r.listeners as Plain[]).map((l, i) => listenerEntry(tree, `listeners[${i}]`, l));
    if (listeners.length === 0) top("listeners", "must list at least one listener");
  }

  const services = new Map<string, Settings>();
  if (r.services !== undefined && r.services !== null) {
    if (!isMapping(r.services)) top("services", "must be a mapping of service name to settings");
    for (const [name, entry] of Object.entries(r.services as { [key: string]: Plain })) {
      const at = `services.${name}`;
      if (!isValidServiceName(name)) {
        tree.problemAt(at)("", "is not a service name (1-63 of [A-Za-z0-9._-])");
      }
      if (!isMapping(entry)) {
        tree.problemAt(at)("", "must be a mapping of settings (lb, retries, ...)");
      }
      services.set(
        name,
        mappingSettings(
          tree,
          at,
          entry as { [key: string]: Plain },
          keys.service,
          new Set(),
          "a service setting",
        ),
      );
    }
  }

  const routes: RouteEntry[] = [];
  if (r.routes !== undefined && r.routes !== null) {
    if (!Array.isArray(r.routes)) top("routes", "must be a list of routes");
    (r.routes as Plain[]).forEach((entry, i) => {
      const at = `routes[${i}]`;
      routes.push({ entry, origin: `${path}:${tree.lineOf(at)}`, problem: tree.problemAt(at) });
    });
  }
  return { path, settings, listeners, services, routes };
}

function listenerEntry(tree: YamlTree, at: string, value: Plain): ListenerEntry {
  const problem = tree.problemAt(at);
  if (typeof value === "string" || typeof value === "number") {
    return { listen: String(value), tls: null, problem };
  }
  if (!isMapping(value)) return problem("", "must be {listen: [HOST:]PORT, tls: {cert, key}}");
  for (const key of Object.keys(value)) {
    if (key !== "listen" && key !== "tls") problem(key, "is not a listener key (listen, tls)");
  }
  const listen = value.listen;
  if (typeof listen !== "string" && typeof listen !== "number") {
    problem("listen", "is required: [HOST:]PORT");
  }
  let tls: ListenerEntry["tls"] = null;
  if (value.tls !== undefined && value.tls !== null) {
    const t = value.tls;
    if (!isMapping(t) || typeof t.cert !== "string" || typeof t.key !== "string") {
      return problem("tls", "must be {cert: PATH, key: PATH} (PEM files)");
    }
    for (const key of Object.keys(t)) {
      if (key !== "cert" && key !== "key") problem(`tls.${key}`, "is not a tls key (cert, key)");
    }
    tls = { certPath: t.cert, keyPath: t.key };
  }
  return { listen: String(listen), tls, problem };
}
