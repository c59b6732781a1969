/**
 * The external programs the benchmarks run (Deno): wrk, nginx and haproxy,
 * and taskset to pin each process to its core.
 * @module
 */

import { findExecutable } from "./proc.ts";
import type { Tools } from "./proxies.ts";

/**
 * Finds wrk, nginx and haproxy (required: prints how to install the missing
 * ones and returns `undefined`) and taskset (needed to pin; without it, or
 * with one CPU, everything runs unpinned and `log` says so).
 *
 * @example
 * ```ts
 * import { findTools } from "./tools.ts";
 * const tools = findTools((msg) => console.log(`bench: ${msg}`));
 * if (!tools) Deno.exit(1);
 * ```
 */
export function findTools(log: (msg: string) => void): Tools | undefined {
  const wrk = findExecutable("wrk");
  const nginx = findExecutable("nginx");
  const haproxy = findExecutable("haproxy");
  const missing = [
    ["wrk", wrk, "wrk"],
    ["nginx", nginx, "nginx-light"],
    ["haproxy", haproxy, "haproxy"],
  ].filter(([, path]) => path === undefined);
  if (missing.length > 0 || !wrk || !nginx || !haproxy) {
    console.error(
      `bench: missing ${missing.map(([name]) => name).join(", ")}. Install with:\n` +
        `  apt-get install -y ${missing.map(([, , pkg]) => pkg).join(" ")}\n` +
        "(the test command installs nginx and haproxy; wrk is for the benchmark alone.)",
    );
    return undefined;
  }
  let taskset = findExecutable("taskset");
  if ((navigator.hardwareConcurrency ?? 1) < 2) {
    log("WARNING: fewer than 2 CPUs; running unpinned, numbers will be noisy");
    taskset = undefined;
  } else if (!taskset) {
    log("WARNING: taskset not found (util-linux); running unpinned");
  }
  return { wrk, nginx, haproxy, taskset };
}
