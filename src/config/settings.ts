/**
 * Named settings as text, wherever they were written: the command line's
 * flags, a config file's keys, a `services:` entry's keys, layered so the
 * first that has a value wins. Each value can say where it came from, so a
 * bad one is reported as `--grace: ...` or `gatehouse.yaml:7: grace: ...`.
 *
 * @module
 */

import { readFlag } from "../cli/values.ts";

/** Settings by name (the flag's name without `--`). */
export interface Settings {
  /** The value as text, or undefined when not set here. */
  get(name: string): string | undefined;
  /** How a message names the setting: `--grace`, `gatehouse.yaml:7: grace`. */
  label(name: string): string;
}

/**
 * Settings from the command line's flags.
 *
 * @example
 * ```ts
 * import { flagSettings } from "./settings.ts";
 * const s = flagSettings({ grace: "5s" });
 * s.get("grace"); // "5s"
 * s.label("grace"); // "--grace"
 * ```
 */
export function flagSettings(values: Record<string, unknown>): Settings {
  return {
    get(name) {
      const v = values[name];
      return typeof v === "string" ? v : v === true ? "true" : undefined;
    },
    label: (name) => `--${name}`,
  };
}

/**
 * `first`'s value where it has one, else `then`'s (flags over the file, a
 * service's own keys over the ingress's).
 *
 * @example
 * ```ts
 * import { flagSettings, layered } from "./settings.ts";
 * layered(flagSettings({}), flagSettings({ grace: "5s" })).get("grace"); // "5s"
 * ```
 */
export function layered(first: Settings, then: Settings): Settings {
  return {
    get: (name) => first.get(name) ?? then.get(name),
    label: (name) => first.get(name) !== undefined ? first.label(name) : then.label(name),
  };
}

/**
 * Read setting `name` with `parse`, or `fallback` when it is not set. A bad
 * value is a UsageError naming where it was written.
 *
 * @example
 * ```ts
 * import { flagSettings, readSetting } from "./settings.ts";
 * import { parseDuration } from "../cli/values.ts";
 * readSetting(flagSettings({ grace: "5s" }), "grace", parseDuration, 10_000); // 5000
 * ```
 */
export function readSetting<T>(
  settings: Settings,
  name: string,
  parse: (text: string) => T,
  fallback: T,
): T {
  const text = settings.get(name);
  return text === undefined ? fallback : readFlag(settings.label(name), text, parse);
}
