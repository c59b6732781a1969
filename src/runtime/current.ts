/**
 * The runtime this process runs on, picked once: Deno when `Deno` is
 * there, else Bun (the compiled single binary).
 *
 * @module
 */

import type { Runtime } from "./types.ts";
import { denoRuntime } from "./deno.ts";
import { bunRuntime } from "./bun/runtime.ts";

/**
 * The {@link Runtime} of this process.
 *
 * @example
 * ```ts
 * import { currentRuntime } from "./current.ts";
 * console.log(currentRuntime().name); // "deno" or "bun"
 * ```
 */
export function currentRuntime(): Runtime {
  return "Deno" in globalThis ? denoRuntime : bunRuntime;
}
