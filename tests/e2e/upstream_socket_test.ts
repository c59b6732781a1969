/**
 * The receive buffer of backend connections (`--upstream-rcvbuf`), as the
 * kernel reports it for the ingress's sockets to the backend (`ss -tm`).
 * Linux doubles what SO_RCVBUF asks for, so 100000 shows as rb200000.
 * Under Deno the runtime has no such socket option: the flag is refused
 * with a notice and the kernel's own sizing stays.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "../helpers/http.ts";
import { type Stack, startStack } from "../helpers/stack.ts";
import { gatehouseRuntime, runGatehouse } from "../helpers/gatehouse.ts";

/** The `rb` (receive buffer) of every established socket connected to `port`. */
function receiveBuffersTo(port: number): number[] {
  let out: string;
  try {
    out = execFileSync("ss", ["-tmnH", "state", "established", "dst", `127.0.0.1:${port}`], {
      encoding: "utf8",
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    throw new Error(
      "ss is not installed (Debian: apt-get install iproute2; the test command installs it)",
    );
  }
  return [...out.matchAll(/\brb(\d+)\b/g)].map((m) => Number(m[1]));
}

/** A stack with `args`, after one request through it (so a backend connection is pooled). */
async function stackWithConnection(args: string[]): Promise<Stack> {
  const stack = await startStack(["--route", "/:web", ...args], ["web"]);
  const res = await request(stack.port, { path: "/" });
  assert.equal(res.status, 200, res.text);
  return stack;
}

const bun = gatehouseRuntime() === "bun";
/** What the kernel starts a TCP receive buffer at (net.ipv4.tcp_rmem's middle value). */
const kernelDefault = Number(
  readFileSync("/proc/sys/net/ipv4/tcp_rmem", "utf8").trim().split(/\s+/)[1],
);

/** Asserts `rb` is the kernel's own sizing, not one Gatehouse asked for (`asked` bytes). */
function assertKernelSized(rb: number, asked: number): void {
  assert.ok(rb >= kernelDefault, `rb ${rb} below the kernel's default ${kernelDefault}`);
  if (kernelDefault !== 2 * asked) assert.notEqual(rb, 2 * asked);
}

describe("backend connection receive buffer", () => {
  const stacks: Stack[] = [];
  after(async () => {
    await Promise.all(stacks.map((s) => s.close()));
  });

  it(
    bun ? "asks for 131072 bytes by default" : "leaves the default to the kernel under Deno",
    async () => {
      const stack = await stackWithConnection([]);
      stacks.push(stack);
      const rb = receiveBuffersTo(stack.backends.web.port);
      assert.equal(rb.length, 1, `one pooled backend connection, got ${rb}`);
      if (bun) assert.equal(rb[0], 2 * 131072);
      else assertKernelSized(rb[0], 131072);
      assert.doesNotMatch(stack.gh.stderr, /upstream-rcvbuf/);
    },
  );

  it(
    bun ? "asks for the size --upstream-rcvbuf names" : "says the flag has no effect",
    async () => {
      const stack = await stackWithConnection(["--upstream-rcvbuf", "100000"]);
      stacks.push(stack);
      const rb = receiveBuffersTo(stack.backends.web.port);
      assert.equal(rb.length, 1, `one pooled backend connection, got ${rb}`);
      if (bun) {
        assert.equal(rb[0], 200000);
        assert.doesNotMatch(stack.gh.stderr, /upstream-rcvbuf/);
      } else {
        assertKernelSized(rb[0], 100000);
        assert.match(
          stack.gh.stderr,
          /^gatehouse: --upstream-rcvbuf has no effect under deno .*the kernel sizes backend receive buffers/m,
        );
      }
    },
  );

  it("leaves the kernel's sizing with --upstream-rcvbuf 0", async () => {
    const stack = await stackWithConnection(["--upstream-rcvbuf", "0"]);
    stacks.push(stack);
    const rb = receiveBuffersTo(stack.backends.web.port);
    assert.equal(rb.length, 1, `one pooled backend connection, got ${rb}`);
    assertKernelSized(rb[0], 131072);
    assert.doesNotMatch(stack.gh.stderr, /upstream-rcvbuf/);
  });

  it("refuses a size it cannot ask for, naming the flag", async () => {
    const r = await runGatehouse(["--route", "/:web", "--upstream-rcvbuf", "64k"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--upstream-rcvbuf: "64k" must be 0 \(the kernel's sizing\) or bytes/);
  });
});
