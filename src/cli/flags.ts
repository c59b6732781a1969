/**
 * Reading a command's flags: node's `parseArgs` (which Deno and Bun both
 * have), its errors turned into one-line {@link UsageError}s.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** A mistake in how Gatehouse was invoked (exit code 2). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** What one flag is: a string (repeatable or not) or a boolean. */
export interface FlagSpec {
  type: "string" | "boolean";
  multiple?: boolean;
  short?: string;
}

/** The flags as read: strings, string lists (repeatable flags) and booleans. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/**
 * Read `args` against `options`; an unknown flag, a missing value or a
 * positional argument is a {@link UsageError}.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * parseFlags(["--listen", "9090"], { listen: { type: "string" } }).listen; // "9090"
 * ```
 */
export function parseFlags(args: readonly string[], options: Record<string, FlagSpec>): FlagValues {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false })
      .values as FlagValues;
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0];
    throw new UsageError(msg.replace(/\. To specify a positional argument.*$/, ""));
  }
}
