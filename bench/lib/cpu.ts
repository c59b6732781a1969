/**
 * CPU accounting from Linux `/proc` text: a core's busy time from
 * `/proc/stat` and a process's own time from `/proc/<pid>/stat`. Pure
 * parsers and arithmetic; the caller reads the files.
 * @module
 */

/** One `cpuN` line of `/proc/stat`, in clock ticks (USER_HZ). */
export interface CoreTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/** The fields of `/proc/<pid>/stat` the harness needs. */
export interface ProcessStat {
  pid: number;
  comm: string;
  ppid: number;
  /** User-mode time in clock ticks. */
  utime: number;
  /** Kernel-mode time in clock ticks. */
  stime: number;
  /** User time of reaped children (e.g. the harness's finished wrk runs). */
  cutime: number;
  /** Kernel time of reaped children. */
  cstime: number;
}

/**
 * Reads core `core`'s line from the text of `/proc/stat`.
 *
 * @example
 * ```ts
 * parseCoreTimes("cpu0 10 0 5 100 0 0 1 0 0 0\n", 0).softirq; // 1
 * ```
 * @throws {SyntaxError} when the core has no line.
 */
export function parseCoreTimes(procStat: string, core: number): CoreTimes {
  const m = new RegExp(`^cpu${core}\\s+([0-9 ]+)$`, "m").exec(procStat);
  if (!m) throw new SyntaxError(`/proc/stat has no line for cpu${core}`);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = m[1].trim().split(/\s+/)
    .map(Number);
  return { user, nice, system, idle, iowait, irq, softirq, steal: steal ?? 0 };
}

/**
 * Parses the text of `/proc/<pid>/stat`. The command name may contain
 * spaces and parentheses, so fields are counted from the last `)`.
 *
 * @example
 * ```ts
 * parseProcessStat("42 (a b) S 1 42 42 0 -1 0 0 0 0 0 7 3 0 0").utime; // 7
 * ```
 * @throws {SyntaxError} on malformed text.
 */
export function parseProcessStat(text: string): ProcessStat {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) throw new SyntaxError("malformed /proc/<pid>/stat");
  // After ")": state(3) ppid(4) pgrp sid tty tpgid flags minflt cminflt
  // majflt cmajflt utime(14) stime(15) cutime(16) cstime(17).
  const rest = text.slice(close + 2).trim().split(/\s+/);
  if (rest.length < 15) throw new SyntaxError("short /proc/<pid>/stat");
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    ppid: Number(rest[1]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
    cutime: Number(rest[13]),
    cstime: Number(rest[14]),
  };
}

/**
 * The pids of `root` and all its descendants, given every process's stat.
 * nginx does its work in a worker child of the pid the harness started.
 *
 * @example
 * ```ts
 * descendants(1, [{ pid: 2, ppid: 1 }, { pid: 3, ppid: 2 }, { pid: 4, ppid: 9 }]);
 * // Set {1, 2, 3}
 * ```
 */
export function descendants(
  root: number,
  procs: readonly Pick<ProcessStat, "pid" | "ppid">[],
): Set<number> {
  const tree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (!tree.has(p.pid) && tree.has(p.ppid)) {
        tree.add(p.pid);
        grew = true;
      }
    }
  }
  return tree;
}

/** A snapshot taken right before and right after a wrk run. */
export interface CpuSample {
  /** Monotonic time in milliseconds. */
  atMs: number;
  /** The proxy's core. */
  core: CoreTimes;
  /** utime + stime of the proxy's process tree, in ticks. */
  proxyTicks: number;
  /** The load core (wrk, backend, harness), when watched too. */
  loadCore?: CoreTimes;
  /** CPU ticks of everything the harness runs on the load core. */
  loadTicks?: number;
}

/** CPU use over one run, each as a fraction of one core (0..1). */
export interface CpuUsage {
  elapsedS: number;
  /** The proxy's own user + system time. */
  proxy: number;
  /** Time in hard and soft interrupts on the proxy's core (mostly loopback network work). */
  interrupts: number;
  /**
   * Process time on the proxy's core that was not the proxy's (plus steal,
   * time the hypervisor gave to another guest): the disturbance measure.
   */
  foreign: number;
  /** The same measure for the load core, when sampled. */
  loadForeign?: number;
}

/** Foreign share of one core: process time not ours, plus steal. */
function foreignShare(
  before: CoreTimes,
  after: CoreTimes,
  ownTicks: number,
  capacity: number,
): number {
  if (capacity <= 0) return 0;
  const d = (k: keyof CoreTimes) => after[k] - before[k];
  // Tick sampling can book a few of our ticks outside the window; clamp so
  // rounding never shows as negative foreign time.
  return (Math.max(0, d("user") + d("nice") + d("system") - ownTicks) + d("steal")) / capacity;
}

/**
 * Computes the proxy's and others' share of the proxy's core between two
 * samples. Interrupt time is kept apart, since the kernel books loopback
 * packet work there rather than on the process that caused it.
 *
 * @example
 * ```ts
 * import { type CpuSample, cpuUsage } from "./cpu.ts";
 * declare const before: CpuSample;
 * declare const after: CpuSample;
 * const usage = cpuUsage(before, after, 100);
 * if (usage.foreign > 0.1) console.log("disturbed run");
 * ```
 */
export function cpuUsage(before: CpuSample, after: CpuSample, ticksPerSecond: number): CpuUsage {
  const elapsedS = (after.atMs - before.atMs) / 1000;
  const capacity = elapsedS * ticksPerSecond;
  const d = (k: keyof CoreTimes) => after.core[k] - before.core[k];
  const proxyTicks = after.proxyTicks - before.proxyTicks;
  const usage: CpuUsage = {
    elapsedS,
    proxy: capacity > 0 ? proxyTicks / capacity : 0,
    interrupts: capacity > 0 ? (d("irq") + d("softirq")) / capacity : 0,
    foreign: foreignShare(before.core, after.core, proxyTicks, capacity),
  };
  if (
    before.loadCore && after.loadCore && before.loadTicks !== undefined &&
    after.loadTicks !== undefined
  ) {
    usage.loadForeign = foreignShare(
      before.loadCore,
      after.loadCore,
      after.loadTicks - before.loadTicks,
      capacity,
    );
  }
  return usage;
}
