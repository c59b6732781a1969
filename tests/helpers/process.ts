/**
 * A child process a test started, and stopping it.
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";

/** A started child and a promise that settles once it has exited and its pipes closed. */
export interface Started {
  child: ChildProcess;
  closed: Promise<void>;
}

/**
 * SIGTERM, then SIGKILL after 5 s if it is still there; resolves once it is gone.
 *
 * @example
 * ```ts
 * import type { ChildProcess } from "node:child_process";
 * import { stopProcess } from "./process.ts";
 * declare const child: ChildProcess;
 * declare const closed: Promise<void>;
 * await stopProcess({ child, closed });
 * ```
 */
export async function stopProcess(p: Started): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
  const killer = setTimeout(() => p.child.kill("SIGKILL"), 5_000);
  await p.closed;
  clearTimeout(killer);
}
