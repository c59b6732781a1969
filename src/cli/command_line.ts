/**
 * The whole command line to the {@link Command} it asks for: the ingress
 * (the default), `demo`, `tower` or `register`, or help and version.
 *
 * @module
 */

import type { IngressConfig } from "../app/config.ts";
import type { RegisterOptions } from "../app/register.ts";
import { UsageError } from "./flags.ts";
import { INGRESS_FLAGS, ingressConfig, USAGE } from "./ingress_flags.ts";
import { parseRegisterArgs, REGISTER_USAGE } from "./register_flags.ts";
import { type TowerCommand, towerCommand } from "./tower_flags.ts";
import { parseFlags } from "./flags.ts";

/** What the command line asks for. */
export type Command =
  | { kind: "help"; usage: string }
  | { kind: "version" }
  | { kind: "ingress"; config: IngressConfig }
  | { kind: "demo"; config: IngressConfig }
  | { kind: "tower"; tower: TowerCommand }
  | { kind: "register"; options: RegisterOptions };

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
): Command {
  const rest = args.slice(1);
  switch (args[0]) {
    case "tower": {
      const tower = towerCommand(rest, env);
      return tower === null ? { kind: "help", usage: USAGE } : { kind: "tower", tower };
    }
    case "demo": {
      const config = ingressConfig(rest, true, env);
      return config === null ? { kind: "help", usage: USAGE } : { kind: "demo", config };
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
  const config = ingressConfig(args, false, env);
  return config === null ? { kind: "help", usage: USAGE } : { kind: "ingress", config };
}
