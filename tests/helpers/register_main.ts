/**
 * Runs `gatehouse register` (src/register.ts) as its own process, for tests:
 * `deno run -A tests/helpers/register_main.ts --registry ... --service ...`.
 * Exit codes as the real command: 2 for bad flags, 1 for other failures.
 *
 * @module
 */

import process from "node:process";
import { RegisterUsageError, runRegister } from "../../src/register.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import { denoRuntime } from "../../src/runtime/deno.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";

const runtime: Runtime = "Deno" in globalThis ? denoRuntime : bunRuntime;

try {
  runtime.exit(await runRegister(process.argv.slice(2), runtime));
} catch (err) {
  console.error(`gatehouse: ${err instanceof Error ? err.message : String(err)}`);
  runtime.exit(err instanceof RegisterUsageError ? 2 : 1);
}
