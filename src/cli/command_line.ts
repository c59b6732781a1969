/**
 * The whole command line to the {@link Command} it asks for: the ingress
 * (the default), `demo`, `tower`, `register`, `check`, `routes` or
 * `services`, or help and
 * version. A config file (`--config`) is read with the `read` given.
 *
 * @module
 */

import type { IngressConfig } from "../app/config.ts";
import type { RegisterOptions } from "../app/register.ts";
import { UsageError } from "./flags.ts";
import { INGRESS_FLAGS, ingressConfig, type ReadFile, USAGE } from "./ingress_flags.ts";
import type { ConfigSource } from "../app/run.ts";

const noFile: ReadFile = () => {
  throw new Error("files cannot be read here");
};
import { parseRegisterArgs, REGISTER_USAGE } from "./register_flags.ts";
import { type TowerCommand, towerCommand } from "./tower_flags.ts";
import { parseFlags } from "./flags.ts";
import { ADMIN_VIEW_USAGE, type AdminViewCommand, adminViewCommand } from "./admin_view.ts";

/** What the command line asks for. */
export type Command =
  | { kind: "help"; usage: string }
  | { kind: "version" }
  | { kind: "ingress"; config: IngressConfig; source: ConfigSource | null }
  | { kind: "demo"; config: IngressConfig; source: ConfigSource | null }
  | { kind: "check"; config: IngressConfig }
  | { kind: "tower"; tower: TowerCommand }
  | { kind: "register"; options: RegisterOptions }
  | { kind: "admin-view"; command: AdminViewCommand };

/**
 * Read the whole command line. Throws a {@link UsageError} with one line
 * saying what is wrong.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./command_line.ts";
 * parseCommandLine(["--listen", "9090", "--route", "/:frontend"]).kind; // "ingress"
 * ```
 */
export function parseCommandLine(
  args: readonly string[],
  env: (name: string) => string | undefined = () => undefined,
  read?: ReadFile,
): Command {
  const rest = args.slice(1);
  // The ingress's configuration, and how a reload reads it again with the same flags.
  const ingress = (flags: readonly string[], demo: boolean) => {
    let text = "";
    const config = ingressConfig(flags, demo, env, (path) => text = (read ?? noFile)(path));
    if (config === null) return null;
    const source: ConfigSource | null = config.configFile === null ? null : {
      text,
      build: (next) => ingressConfig(flags, demo, env, () => next)!,
    };
    return { config, source };
  };
  switch (args[0]) {
    case "tower": {
      const tower = towerCommand(rest, env);
      return tower === null ? { kind: "help", usage: USAGE } : { kind: "tower", tower };
    }
    case "demo": {
      const run = ingress(rest, true);
      return run === null ? { kind: "help", usage: USAGE } : { kind: "demo", ...run };
    }
    case "check": {
      const values = parseFlags(rest, INGRESS_FLAGS);
      if (values.help) return { kind: "help", usage: USAGE };
      if (values.config === undefined) throw new UsageError("check needs --config FILE");
      return { kind: "check", config: ingress(rest, false)!.config };
    }
    case "routes":
    case "services": {
      const command = adminViewCommand(args[0], rest, env);
      return command === null
        ? { kind: "help", usage: ADMIN_VIEW_USAGE }
        : { kind: "admin-view", command };
    }
    case "register": {
      const options = parseRegisterArgs(rest, env);
      return options === null
        ? { kind: "help", usage: REGISTER_USAGE }
        : { kind: "register", options };
    }
  }
  if (args[0] !== undefined && !args[0].startsWith("-")) {
    throw new UsageError(`unknown command "${args[0]}" (try --help)`);
  }
  const values = parseFlags(args, INGRESS_FLAGS);
  if (values.help) return { kind: "help", usage: USAGE };
  if (values.version) return { kind: "version" };
  const run = ingress(args, false);
  return run === null ? { kind: "help", usage: USAGE } : { kind: "ingress", ...run };
}
