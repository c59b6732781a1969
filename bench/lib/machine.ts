/**
 * Facts about the machine and tool versions, recorded with the results
 * (Deno).
 * @module
 */

import { runCommand } from "./proc.ts";
import { type MachineFacts, parseCpuInfo } from "./report.ts";

async function versionOf(cmd: string, args: string[], re: RegExp): Promise<string | undefined> {
  try {
    const r = await runCommand(cmd, args, { timeoutMs: 10_000 });
    return re.exec(r.stdout + r.stderr)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Collects CPU model and count, kernel and tool versions.
 *
 * @example
 * ```ts
 * import { collectMachineFacts } from "./machine.ts";
 * const tools = { nginx: "/usr/sbin/nginx", haproxy: "/usr/sbin/haproxy", wrk: "/usr/bin/wrk" };
 * const facts = await collectMachineFacts(tools, ".");
 * ```
 */
export async function collectMachineFacts(
  tools: { nginx: string; haproxy: string; wrk: string },
  repoRoot: string,
): Promise<MachineFacts> {
  let cpuinfo = "";
  try {
    cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  } catch {
    // Not Linux; leave the model unknown.
  }
  const cpu = parseCpuInfo(cpuinfo);
  const versions: Record<string, string> = {};
  const found = await Promise.all([
    versionOf(tools.nginx, ["-v"], /nginx\/(\S+)/),
    versionOf(tools.haproxy, ["-v"], /HAProxy version (\S+)/),
    versionOf(tools.wrk, ["-v"], /wrk (\S+)/),
    versionOf(`${repoRoot}/node_modules/bun/bin/bun.exe`, ["--version"], /^(\S+)/),
  ]);
  const names = ["nginx", "haproxy", "wrk", "bun"];
  found.forEach((v, i) => {
    if (v) versions[names[i]] = v;
  });
  versions.deno = Deno.version.deno;
  return {
    date: new Date().toISOString(),
    nproc: navigator.hardwareConcurrency || cpu.processors,
    cpuModel: cpu.model,
    kernel: Deno.osRelease(),
    versions,
  };
}
