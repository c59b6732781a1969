/**
 * A replica as its own process, for tests that stop it with a signal
 * (SIGSTOP freezes the whole process, as a hung replica would be):
 * `replica_server.ts NAME`. It listens on 127.0.0.1 (a free port), prints
 * `replica: listening on PORT`, and answers every request 200 with its
 * name, keeping connections alive. SIGTERM exits 0.
 *
 * @module
 */

import { createServer } from "node:http";
import process from "node:process";

const name = process.argv[2] ?? "replica";

process.on("SIGTERM", () => process.exit(0));

const server = createServer((_req, res) => {
  res.setHeader("Content-Type", "text/plain");
  res.end(`${name}\n`);
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  console.log(`replica: listening on ${port}`);
});
