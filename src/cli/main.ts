/**
 * The program: the command line to a running command, and the exit codes
 * (2 for a usage mistake, 1 for a failure to start, the wrapped command's
 * for `register`).
 *
 * @module
 */

import type { Runtime } from "../runtime/types.ts";
import { runIngress, runTower } from "../app/run.ts";
import { runRegister } from "../app/register.ts";
import { StartupError } from "../app/errors.ts";
import { messageOf } from "../error_message.ts";
import { VERSION } from "../version.ts";
import { UsageError } from "./flags.ts";
import { ConfigError } from "../config/errors.ts";
import { describeConfig } from "./check.ts";
import { parseCommandLine } from "./command_line.ts";
import { adminViewText } from "./admin_view.ts";

/**
 * Run what `runtime.args` asks for. Long-running commands return once they
 * are serving; their signal handlers end the process.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * await main(currentRuntime());
 * ```
 */
export async function main(runtime: Runtime): Promise<void> {
  const fail = (code: number, message: string): never => {
    console.error(`gatehouse: ${message}`);
    return runtime.exit(code);
  };
  try {
    const command = parseCommandLine(runtime.args, runtime.env, runtime.readTextFileSync);
    switch (command.kind) {
      case "help":
        console.log(command.usage);
        return;
      case "version":
        console.log(`gatehouse ${VERSION} (${runtime.name})`);
        return;
      case "tower":
        return await runTower(command.tower.listen, command.tower.security, runtime);
      case "ingress":
      case "demo":
        return await runIngress(command.config, command.kind === "demo", runtime, command.source);
      case "check":
        console.log(describeConfig(command.config));
        return;
      case "admin-view":
        console.log(await adminViewText(command.command));
        return;
      case "register":
        // The sidecar's exit code is the wrapped command's.
        return runtime.exit(await runRegister(command.options, runtime));
    }
  } catch (e) {
    if (e instanceof ConfigError) fail(2, e.message);
    if (e instanceof UsageError) fail(2, `${e.message} (see --help)`);
    if (e instanceof StartupError) fail(1, e.message);
    fail(1, `fatal: ${messageOf(e)}`);
  }
}
