/**
 * A tiny HTTP server for sidecar tests, started late on purpose:
 * `slow_http_server.ts PORT DELAY_MS [EXIT_AFTER_MS EXIT_CODE]`.
 *
 * It waits DELAY_MS, listens on 127.0.0.1:PORT and prints
 * `server: listening on PORT`; with EXIT_AFTER_MS it exits with EXIT_CODE
 * that long after listening. SIGTERM prints `server: SIGTERM` and exits 0.
 *
 * @module
 */

import { createServer } from "node:http";
import process from "node:process";

const [portText, delayText, exitAfterText, exitCodeText] = process.argv.slice(2);
const port = Number(portText);
const delayMs = Number(delayText ?? "0");

process.on("SIGTERM", () => {
  console.log("server: SIGTERM");
  process.exit(0);
});

setTimeout(() => {
  const server = createServer((_req, res) => res.end("ok\n"));
  server.listen(port, "127.0.0.1", () => {
    console.log(`server: listening on ${port}`);
    if (exitAfterText !== undefined) {
      setTimeout(() => process.exit(Number(exitCodeText ?? "0")), Number(exitAfterText));
    }
  });
}, delayMs);
