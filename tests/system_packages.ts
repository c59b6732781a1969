/**
 * The servers the suite starts itself (etcd, dnsmasq, nginx, haproxy,
 * prometheus), the tools it calls (ss, promtool) and the browser it drives
 * (chromium), installed when the machine lacks them, so the README's test
 * command works on a fresh Debian machine with only Node.js.
 *
 * - as root: `apt-get install` (the packaged daemons are kept from starting:
 *   the tests start their own, on their own ports);
 * - otherwise: `apt-get download` of the missing packages and their missing
 *   dependencies, unpacked with `dpkg-deb -x` into `.cache/debian/`, whose
 *   bin and lib folders the test steps then get on PATH and LD_LIBRARY_PATH;
 * - without apt: one line naming the packages, and the suite stops.
 *
 * @module
 */

/** Command the suite runs -> the Debian package that ships it. */
export const SUITE_COMMANDS: Readonly<Record<string, string>> = {
  etcd: "etcd-server",
  dnsmasq: "dnsmasq",
  nginx: "nginx-light",
  haproxy: "haproxy",
  ss: "iproute2",
  // promtool checks the /metrics output; the server scrapes Gatehouse in an end-to-end test.
  promtool: "prometheus",
  prometheus: "prometheus",
  // The dashboard's test; unpacked without root, tests/helpers/chromium.ts starts the binary
  // behind Debian's wrapper script (which names /usr/lib/chromium by absolute path).
  chromium: "chromium",
};

/** Debian puts nginx, haproxy and dnsmasq in sbin, which a non-login PATH may lack. */
const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/** Environment additions the test steps need to find what was installed. */
export interface SuiteEnv {
  PATH: string;
  LD_LIBRARY_PATH?: string;
}

/** What {@link ensureSuiteCommands} did, for the runner to print and pass on. */
export interface Installed {
  env: SuiteEnv;
  /** One line per action taken (empty when nothing was missing). */
  notes: string[];
}

/** Raised when the commands cannot be installed; its message names the packages. */
export class MissingPackagesError extends Error {
  override name = "MissingPackagesError";
}

async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; quiet?: boolean } = {},
): Promise<{ ok: boolean; out: string; err: string }> {
  try {
    const result = await new Deno.Command(cmd, {
      args,
      cwd: opts.cwd,
      env: opts.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(result.stdout);
    const err = new TextDecoder().decode(result.stderr);
    if (!result.success && !opts.quiet) {
      console.error(`${cmd} ${args.join(" ")} failed:\n${err.trim() || out.trim()}`);
    }
    return { ok: result.success, out, err };
  } catch (e) {
    return { ok: false, out: "", err: (e as Error).message };
  }
}

/** The first folder of `path` (a PATH value) holding an executable `name`. */
async function which(name: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(":")) {
    if (dir === "") continue;
    try {
      const info = await Deno.stat(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

function joinPath(...parts: (string | undefined)[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const part of parts) {
    for (const dir of (part ?? "").split(":")) {
      if (dir !== "" && !seen.has(dir)) {
        seen.add(dir);
        out.push(dir);
      }
    }
  }
  return out.join(":");
}

/** Commands of {@link SUITE_COMMANDS} not found on `path`. */
export async function missingCommands(
  path: string,
  commands: Readonly<Record<string, string>> = SUITE_COMMANDS,
): Promise<string[]> {
  const missing: string[] = [];
  for (const cmd of Object.keys(commands)) {
    if (await which(cmd, path) === undefined) missing.push(cmd);
  }
  return missing;
}

/** The folders of an unpacked tree that hold programs and shared libraries. */
function treeEnv(root: string): { bin: string; lib: string } {
  return {
    bin: ["usr/local/bin", "usr/bin", "bin", "usr/sbin", "sbin"].map((d) => `${root}/${d}`)
      .join(":"),
    lib: ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib", "lib"]
      .map((d) => `${root}/${d}`).join(":"),
  };
}

async function isRoot(): Promise<boolean> {
  const r = await run("id", ["-u"], { quiet: true });
  return r.ok && r.out.trim() === "0";
}

/** apt-get install as root, with the packaged daemons kept from starting. */
async function aptInstall(packages: string[]): Promise<boolean> {
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  // policy-rc.d answering 101 ("action forbidden") keeps postinst scripts from starting daemons.
  const policy = "/usr/sbin/policy-rc.d";
  let ownPolicy = false;
  try {
    await Deno.stat(policy);
  } catch {
    await Deno.writeTextFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
    ownPolicy = true;
  }
  try {
    const args = ["install", "-y", "--no-install-recommends", ...packages];
    if ((await run("apt-get", args, { env, quiet: true })).ok) return true;
    // Stale or missing package lists: refresh them once and try again.
    if (!(await run("apt-get", ["update"], { env })).ok) return false;
    return (await run("apt-get", args, { env })).ok;
  } finally {
    if (ownPolicy) await Deno.remove(policy).catch(() => {});
  }
}

/**
 * The packages `apt-get install` would add for `packages` (their missing
 * dependencies included), asked without root through a simulation.
 */
async function toInstall(packages: string[], apt: string[]): Promise<string[] | undefined> {
  const r = await run("apt-get", [...apt, "-s", "install", "--no-install-recommends", ...packages]);
  if (!r.ok) return undefined;
  const names: string[] = [];
  for (const line of r.out.split("\n")) {
    const m = /^Inst (\S+)/.exec(line);
    if (m) names.push(m[1]);
  }
  return names;
}

/**
 * Without root: download the packages and what they need that the machine
 * lacks, and unpack them under `cache`. Uses the machine's package lists,
 * or lists of its own under `cache` when those are missing or stale.
 */
async function unpackInto(packages: string[], cache: string): Promise<boolean> {
  const debs = `${cache}/debs`;
  const root = `${cache}/root`;
  await Deno.mkdir(debs, { recursive: true });
  await Deno.mkdir(`${cache}/lists/partial`, { recursive: true });
  await Deno.mkdir(`${cache}/archives/partial`, { recursive: true });
  const own = [
    "-o",
    `Dir::State::Lists=${cache}/lists`,
    "-o",
    `Dir::Cache::Archives=${cache}/archives`,
    "-o",
    "Debug::NoLocking=1",
  ];
  let apt: string[] = [];
  let names = await toInstall(packages, apt);
  if (names === undefined || names.length === 0) {
    apt = own;
    if (!(await run("apt-get", [...apt, "update"])).ok) return false;
    names = await toInstall(packages, apt);
    if (names === undefined) return false;
  }
  let download = await run("apt-get", [...apt, "download", ...names], { cwd: debs });
  if (!download.ok && apt.length === 0) {
    apt = own;
    if (!(await run("apt-get", [...apt, "update"])).ok) return false;
    download = await run("apt-get", [...apt, "download", ...names], { cwd: debs });
  }
  if (!download.ok) return false;
  await Deno.mkdir(root, { recursive: true });
  for await (const entry of Deno.readDir(debs)) {
    if (!entry.name.endsWith(".deb")) continue;
    if (!(await run("dpkg-deb", ["-x", `${debs}/${entry.name}`, root])).ok) return false;
  }
  return true;
}

/**
 * Makes sure every command of {@link SUITE_COMMANDS} can be found, installing
 * what is missing. Returns the PATH (and LD_LIBRARY_PATH) the test steps get.
 * Throws {@link MissingPackagesError} when something cannot be installed.
 *
 * @example
 * ```ts
 * const { env } = await ensureSuiteCommands(".cache/debian");
 * ```
 */
export async function ensureSuiteCommands(cache: string): Promise<Installed> {
  const notes: string[] = [];
  const unpacked = treeEnv(`${cache}/root`);
  const path = joinPath(Deno.env.get("PATH"), ...SBIN);
  // A tree unpacked by an earlier run counts as installed.
  const withCache = joinPath(path, unpacked.bin);
  const libs = joinPath(Deno.env.get("LD_LIBRARY_PATH"), unpacked.lib);
  let missing = await missingCommands(withCache);
  if (missing.length === 0) {
    const usesCache = (await missingCommands(path)).length > 0;
    return {
      env: usesCache ? { PATH: withCache, LD_LIBRARY_PATH: libs } : { PATH: path },
      notes,
    };
  }
  const packages = [...new Set(missing.map((c) => SUITE_COMMANDS[c]))];
  const hasApt = await which("apt-get", path) !== undefined &&
    await which("dpkg-deb", path) !== undefined;
  if (!hasApt) {
    throw new MissingPackagesError(
      `the suite needs ${missing.join(", ")}: install the Debian packages ${packages.join(" ")}`,
    );
  }
  if (await isRoot()) {
    notes.push(`installing ${packages.join(" ")} with apt-get`);
    if (!(await aptInstall(packages))) {
      throw new MissingPackagesError(
        `apt-get could not install ${packages.join(" ")} (needed for ${missing.join(", ")})`,
      );
    }
    missing = await missingCommands(path);
    if (missing.length > 0) {
      throw new MissingPackagesError(`still missing after apt-get: ${missing.join(", ")}`);
    }
    return { env: { PATH: path }, notes };
  }
  notes.push(`not root: unpacking ${packages.join(" ")} and their dependencies into ${cache}`);
  if (!(await unpackInto(packages, cache))) {
    throw new MissingPackagesError(
      `could not download ${packages.join(" ")} (needed for ${missing.join(", ")}); ` +
        `install them with: sudo apt-get install ${packages.join(" ")}`,
    );
  }
  missing = await missingCommands(withCache);
  if (missing.length > 0) {
    throw new MissingPackagesError(
      `still missing after unpacking into ${cache}: ${missing.join(", ")}`,
    );
  }
  return { env: { PATH: withCache, LD_LIBRARY_PATH: libs }, notes };
}
