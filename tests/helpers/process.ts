/**
 * A child process a test started, and stopping it.
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

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

/**
 * Child process ids of `pid` (Linux /proc): a `--procs` primary's workers.
 *
 * @example
 * ```ts
 * import { childrenOf } from "./process.ts";
 * childrenOf(process.pid); // [] unless this process started some
 * ```
 */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}
