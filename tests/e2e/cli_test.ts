/**
 * Command line: bad flags exit 2 with one clean line on stderr, a taken port
 * exits 1 the same way, and the accepted duration forms start the ingress.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import dgram from "node:dgram";
import { type EchoBackend, startEchoBackend } from "../helpers/backends.ts";
import {
  freePortFlags,
  type Gatehouse,
  runGatehouse,
  type RunResult,
  startGatehouse,
} from "../helpers/gatehouse.ts";
import { echoOf, request } from "../helpers/http.ts";
import { register } from "../helpers/tower.ts";

/** One non-empty line, no stack frames. */
function assertOneCleanLine(r: RunResult, what: string): void {
  const lines = r.stderr.trim().split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, 1, `${what}: expected one stderr line, got:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: stack trace on stderr:\n${r.stderr}`);
  assert.doesNotMatch(
    r.stderr,
    /Uncaught|error: Uncaught/,
    `${what}: uncaught error:\n${r.stderr}`,
  );
}

const BAD_FLAGS: Array<[string, string[]]> = [
  ["an unknown flag", ["--bogus"]],
  ["--listen abc", ["--listen", "abc"]],
  ["--route without a service", ["--route", "nocolon"]],
  ["--retries 0", ["--retries", "0"]],
  ["a malformed duration", ["--idle-timeout", "10x"]],
  ["--tls-cert without --tls-key", ["--tls-cert", "/nonexistent/cert.pem"]],
  ["a --via that is no token", ["--via", "gate house"]],
];

describe("command line errors", () => {
  for (const [name, flags] of BAD_FLAGS) {
    it(`exits 2 with one clean stderr line for ${name}`, async () => {
      // Free ports, so a wrongly accepted flag cannot clash with anything.
      const r = await runGatehouse([...freePortFlags(), ...flags], 10_000);
      assert.equal(r.timedOut, false, `${name} was accepted: gatehouse kept running`);
      assert.equal(r.code, 2, `${name}: exit code ${r.code}, stderr:\n${r.stderr}`);
      assertOneCleanLine(r, name);
    });
  }

  it("exits 1 with one clean stderr line when the HTTP port is taken", async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", () => resolve()));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = await runGatehouse(
        ["--listen", `127.0.0.1:${port}`, "--tower-listen", "127.0.0.1:0", "--route", "/:web"],
        10_000,
      );
      assert.equal(r.timedOut, false, "gatehouse kept running on a taken port");
      assert.equal(r.code, 1, `exit code ${r.code}, stderr:\n${r.stderr}`);
      assertOneCleanLine(r, "taken HTTP port");
    } finally {
      holder.close();
    }
  });

  it("exits 1 with one clean stderr line when the Tower's UDP port is taken", async () => {
    const holder = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => holder.bind(0, "127.0.0.1", () => resolve()));
    const port = holder.address().port;
    try {
      const r = await runGatehouse(
        ["--listen", "127.0.0.1:0", "--tower-listen", `127.0.0.1:${port}`, "--route", "/:web"],
        10_000,
      );
      assert.equal(r.timedOut, false, "gatehouse kept running on a taken UDP port");
      assert.equal(r.code, 1, `exit code ${r.code}, stderr:\n${r.stderr}`);
      assertOneCleanLine(r, "taken Tower port");
    } finally {
      holder.close();
    }
  });
});

describe("accepted flag forms", () => {
  let gh: Gatehouse | undefined;
  let web: EchoBackend | undefined;

  after(async () => {
    await gh?.kill();
    await web?.close();
  });

  it("accepts every duration form and the tuning flags, then serves", async () => {
    web = await startEchoBackend("web");
    gh = await startGatehouse([
      ...freePortFlags(),
      "--route",
      "/:web",
      "--workers",
      "8",
      "--retries",
      "2",
      "--max-header-size",
      "8192",
      "--header-timeout",
      "500ms",
      "--connect-timeout",
      "2",
      "--upstream-timeout",
      "2m",
      "--idle-timeout",
      "10s",
      "--keepalive-timeout",
      "1m",
      "--grace",
      "3s",
      "--pool-size",
      "4",
      "--trusted-proxies",
      "10.0.0.0/8,192.168.0.0/16",
    ]);
    await register(gh.towerPort!, "web", web.port);
    const res = await request(gh.httpPort, { path: "/flags" });
    assert.equal(res.status, 200, res.text);
    assert.equal(echoOf(res).backend, "web");
  });
});
