/**
 * `deno task test`: every test suite in order, failing fast.
 *
 * 1. `deno test -A tests/` (unit and end-to-end; tests/binary/ is left for 3)
 * 2. the unit tests under Bun: `bun test ./tests/unit/`
 * 3. `./compile.sh`, then `deno test -A tests/binary/ tests/e2e/` with
 *    GATEHOUSE_BIN set to the built executable: the end-to-end tests start
 *    Gatehouse through that variable, so they run a second time against
 *    the shipped single binary (Bun's runtime adapter, its UDP, its lazily
 *    loaded built-ins), not only against `deno run main.ts`
 *
 * Before the steps, the servers and tools the suite starts (etcd, dnsmasq,
 * nginx, haproxy, prometheus, ss, promtool) are installed when missing (tests/system_packages.ts):
 * with apt-get as root, else unpacked into `.cache/debian/`.
 *
 * Output streams through as it comes. The last line is always
 * `N passed, N failed`, summed from deno's and bun's summaries; the exit code
 * is non-zero when anything failed. A fresh clone works: when node_modules
 * lacks a package of package.json, `npm ci` runs first.
 *
 * Env: TEST_STEP_TIMEOUT (seconds, default 1800) bounds each step.
 * @module
 */

import { ensureSuiteCommands, MissingPackagesError, type SuiteEnv } from "./system_packages.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
const BUN_VERSION = "1.4.5";
const STEP_TIMEOUT_MS = Number(Deno.env.get("TEST_STEP_TIMEOUT") ?? "1800") * 1000;

/** Test counts parsed from runner output. */
interface Counts {
  passed: number;
  failed: number;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/**
 * Adds what one output line says to `counts`: deno's closing
 * `ok | 8 passed (31 steps) | 0 failed (34ms)` or bun's ` 31 pass` / ` 1 fail`.
 */
function countLine(raw: string, counts: Counts): void {
  const line = raw.replace(ANSI, "").trimEnd();
  const deno = /^(?:ok|FAILED) \| (\d+) passed(?: \([^)]*\))? \| (\d+) failed/.exec(line);
  if (deno) {
    counts.passed += Number(deno[1]);
    counts.failed += Number(deno[2]);
    return;
  }
  const bun = /^\s*(\d+) (pass|fail)$/.exec(line);
  if (bun) counts[bun[2] === "pass" ? "passed" : "failed"] += Number(bun[1]);
}

const total: Counts = { passed: 0, failed: 0 };
let current: Deno.ChildProcess | undefined;

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // Already exited.
  }
}

/** Copies a child's stream to ours while counting its summary lines. */
async function pump(
  stream: ReadableStream<Uint8Array>,
  out: { write(p: Uint8Array): Promise<number> },
  counts: Counts,
): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stream) {
    for (let off = 0; off < chunk.length;) off += await out.write(chunk.subarray(off));
    partial += decoder.decode(chunk, { stream: true });
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) countLine(line, counts);
  }
  if (partial !== "") countLine(partial, counts);
}

/**
 * Runs one step, streaming its output. Returns false when it failed; a
 * failure the runner did not count (a type error, a crash) counts as one.
 */
async function step(
  title: string,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<boolean> {
  console.log(`\n=== ${title}: ${[cmd, ...args].join(" ")}`);
  const counts: Counts = { passed: 0, failed: 0 };
  const child = new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  current = child;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    console.error(`\n=== ${title}: no end after ${STEP_TIMEOUT_MS / 1000} s; stopping it`);
    kill(child, "SIGTERM");
    setTimeout(() => kill(child, "SIGKILL"), 5000);
  }, STEP_TIMEOUT_MS);
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout, counts),
    pump(child.stderr, Deno.stderr, counts),
  ]);
  clearTimeout(timer);
  current = undefined;

  const ok = status.success && !timedOut && counts.failed === 0;
  if (!ok && counts.failed === 0) counts.failed = 1;
  total.passed += counts.passed;
  total.failed += counts.failed;
  console.log(
    `=== ${title}: ${ok ? "ok" : "FAILED"} (exit ${status.code}; ` +
      `${counts.passed} passed, ${counts.failed} failed)`,
  );
  return ok;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** True when `dir` holds at least one `*_test.ts` file, at any depth. */
async function hasTests(dir: string): Promise<boolean> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && /[._]test\.(ts|tsx|js|mjs)$/.test(entry.name)) return true;
      if (entry.isDirectory && await hasTests(`${dir}/${entry.name}`)) return true;
    }
  } catch {
    // Missing folder: no tests.
  }
  return false;
}

/** Declared npm packages (package.json) missing from node_modules. */
async function missingPackages(): Promise<string[]> {
  const pkg = JSON.parse(await Deno.readTextFile(`${ROOT}/package.json`));
  const names = Object.keys({
    ...pkg.dependencies,
    ...pkg.devDependencies,
    ...pkg.optionalDependencies,
  });
  const missing = [];
  for (const name of names) {
    if (!(await exists(`${ROOT}/node_modules/${name}/package.json`))) missing.push(name);
  }
  return missing;
}

/** True when `path` runs and answers `--version`. */
async function runs(path: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(path, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

/**
 * The pinned Bun: the npm bin link, the package's own binary (when bin links
 * are off), else npx's copy, resolved from an empty folder so npx cannot
 * pick the project's unlinked package and fail with "bun: not found".
 */
async function findBun(): Promise<string | undefined> {
  for (const path of [`${ROOT}/node_modules/.bin/bun`, `${ROOT}/node_modules/bun/bin/bun.exe`]) {
    if (await runs(path)) return path;
  }
  const tmp = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command("npx", {
      args: ["-y", `bun@${BUN_VERSION}`, "-e", "console.log(process.execPath)"],
      cwd: tmp,
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const path = new TextDecoder().decode(out.stdout).trim().split("\n").pop();
    return out.success && path ? path : undefined;
  } catch {
    return undefined;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

function finish(): never {
  console.log(`\n${total.passed} passed, ${total.failed} failed`);
  Deno.exit(total.failed > 0 ? 1 : 0);
}

async function main(): Promise<void> {
  Deno.addSignalListener("SIGINT", () => {
    if (current) kill(current, "SIGTERM");
    console.error("\ninterrupted");
    total.failed++;
    finish();
  });

  const deno = Deno.execPath();
  let suiteEnv: SuiteEnv;
  try {
    const installed = await ensureSuiteCommands(`${ROOT}/.cache/debian`);
    for (const note of installed.notes) console.log(`=== system packages: ${note}`);
    suiteEnv = installed.env;
  } catch (e) {
    if (!(e instanceof MissingPackagesError)) throw e;
    console.error(`\n=== system packages: ${e.message}`);
    total.failed++;
    finish();
  }
  const env = { ...suiteEnv } as Record<string, string>;
  const missing = await missingPackages();
  if (missing.length > 0) {
    console.log(`npm packages missing (${missing.join(", ")}); installing them`);
    if (!(await step("npm ci", "npm", ["ci", "--no-audit", "--no-fund"]))) finish();
  }

  // tests/binary needs the compiled executable; it runs in the last step.
  if (!(await step("deno test", deno, ["test", "-A", "--ignore=tests/binary", "tests/"], env))) {
    finish();
  }

  if (await hasTests(`${ROOT}/tests/unit`)) {
    const bun = await findBun();
    if (!bun) {
      console.error(`\n=== bun test: bun ${BUN_VERSION} not found`);
      total.failed++;
      finish();
    }
    if (!(await step("bun test", bun, ["test", "./tests/unit/"], env))) finish();
  } else {
    console.log("\n=== bun test: skipped (no tests in tests/unit/)");
  }

  if (!(await step("compile", "bash", ["./compile.sh"], env))) finish();
  if (await hasTests(`${ROOT}/tests/binary`)) {
    const ok = await step("binary e2e", deno, ["test", "-A", "tests/binary/", "tests/e2e/"], {
      ...env,
      GATEHOUSE_BIN: `${ROOT}/dist/gatehouse`,
    });
    if (!ok) finish();
  } else {
    console.log("\n=== binary e2e: skipped (no tests in tests/binary/ yet)");
  }
  finish();
}

if (import.meta.main) await main();
