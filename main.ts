/**
 * Gatehouse: a dynamic HTTP ingress with an embedded service registry.
 *
 * The runtime this process runs on (Deno, or Bun in the compiled binary)
 * hands its arguments to the command line (src/cli/main.ts).
 *
 * @module
 */

import { currentRuntime } from "./src/runtime/current.ts";
import { main } from "./src/cli/main.ts";

await main(currentRuntime());
