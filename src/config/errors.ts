/**
 * A mistake in a config file or a declared route: where it is (file and
 * line, or the registry key) and what is wrong, in one line.
 *
 * @module
 */

import { UsageError } from "../cli/flags.ts";

/**
 * A config mistake. At start it exits 2 like a bad flag; on a reload the
 * running config stays and the message is logged.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./errors.ts";
 * throw new ConfigError('gatehouse.yaml:12: routes[2].retries: "x" must be a whole number from 1 to 100');
 * ```
 */
export class ConfigError extends UsageError {
  override name = "ConfigError";
}

/**
 * How a parser reports a bad value: `key` is the value's key path inside the
 * entry being read ("retries", "request-headers.set"), `message` what is
 * wrong with it. Throws a {@link ConfigError} naming where the entry is.
 */
export type Problem = (key: string, message: string) => never;
