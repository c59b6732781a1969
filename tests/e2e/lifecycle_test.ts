/**
 * Lifecycle: SIGTERM drains in-flight requests, stops accepting at once and
 * exits 0.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type EchoBackend, sleep, startEchoBackend } from "../helpers/backends.ts";
import {
  type ExitInfo,
  freePortFlags,
  type Gatehouse,
  startGatehouse,
} from "../helpers/gatehouse.ts";
import { echoOf, HttpConnection } from "../helpers/http.ts";
import { register } from "../helpers/tower.ts";

/** Resolves with how the process ended, or rejects after `ms`. */
async function exitWithin(gh: Gatehouse, ms: number): Promise<ExitInfo> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`gatehouse still running ${ms} ms after SIGTERM`)),
      ms,
    );
  });
  try {
    return await Promise.race([gh.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("graceful shutdown", () => {
  let gh: Gatehouse | undefined;
  let slow: EchoBackend | undefined;

  after(async () => {
    await gh?.kill();
    await slow?.close();
  });

  it("exits 0 on SIGTERM sent right after the ready lines (10 starts)", async () => {
    // A supervisor may stop a service the moment it reports ready; the signal
    // handler must already be in place by then.
    for (let i = 0; i < 10; i++) {
      const idle = await startGatehouse([...freePortFlags(), "--route", "/:web"]);
      try {
        idle.signal("SIGTERM");
        const info = await exitWithin(idle, 20_000);
        assert.deepEqual(
          info,
          { code: 0, signal: null },
          `start #${i + 1}: SIGTERM right after ready ended the process with ${
            JSON.stringify(info)
          }; stderr: ${idle.stderr}`,
        );
        assert.doesNotMatch(idle.stderr, /^\s+at /m, "stack trace on stderr");
      } finally {
        await idle.kill();
      }
    }
  });

  it("finishes an in-flight request, refuses new connections, then exits 0", async () => {
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    slow = await startEchoBackend("slow", { delayMs: 2_000, onRequestStart: () => arrived() });
    gh = await startGatehouse([...freePortFlags(), "--route", "/:slow", "--grace", "10s"]);
    await register(gh.towerPort!, "slow", slow.port);

    const conn = await HttpConnection.open(gh.httpPort);
    try {
      conn.write("GET /in-flight HTTP/1.1\r\nHost: x\r\n\r\n");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        arrival,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("request never reached the backend")), 15_000);
        }),
      ]);
      clearTimeout(timer);

      gh.signal("SIGTERM");
      const responsePromise = conn.readResponse({ timeoutMs: 20_000 });
      let responded = false;
      responsePromise.then(() => (responded = true), () => (responded = true));

      // While the request is still in flight, new connections must be refused.
      let refusedWhileDraining = false;
      let lastOutcome = "none";
      while (!responded && !gh.hasExited) {
        try {
          const probe = await HttpConnection.open(gh.httpPort, { timeoutMs: 2_000 });
          probe.close();
          lastOutcome = "connected";
        } catch (err) {
          lastOutcome = (err as { code?: string }).code ?? (err as Error).message;
          if (lastOutcome === "ECONNREFUSED" && !responded && !gh.hasExited) {
            refusedWhileDraining = true;
            break;
          }
        }
        await sleep(50);
      }

      const res = await responsePromise;
      assert.equal(res.status, 200, res.text);
      assert.equal(echoOf(res).url, "/in-flight");
      assert.equal(
        refusedWhileDraining,
        true,
        `new connections were not refused during the drain (last probe: ${lastOutcome})`,
      );
      assert.deepEqual(await exitWithin(gh, 20_000), { code: 0, signal: null });
      assert.doesNotMatch(gh.stderr, /^\s+at /m, "stack trace on stderr");
    } finally {
      conn.close();
    }
  });
});
