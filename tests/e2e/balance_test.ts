/**
 * Load-balancing policies end to end (`--lb`): three real replicas that say
 * their name, registered in the embedded Tower; which replica answers each
 * request under round robin, random, and hashing on a header, a cookie and
 * the client's address (the peer's, or a trusted proxy's X-Real-IP); and a
 * hashed key's fallback when its replica leaves.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { HttpConnection } from "../helpers/http.ts";
import { freePortFlags, type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { deregister, register, towerRequest } from "../helpers/tower.ts";

interface Named {
  name: string;
  port: number;
  server: Server;
}

async function named(name: string): Promise<Named> {
  const server = createServer((_req, res) => res.end(`${name}\n`));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { name, port: (server.address() as AddressInfo).port, server };
}

/** Who answers each of `heads` (extra header lines), one request each on a keep-alive connection. */
async function answers(port: number, heads: string[]): Promise<string[]> {
  const conn = await HttpConnection.open(port);
  const out: string[] = [];
  for (const extra of heads) {
    conn.write(`GET / HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
    const res = await conn.readResponse({ timeoutMs: 10_000 });
    assert.equal(res.status, 200);
    out.push(res.body.toString().trim());
  }
  conn.close();
  return out;
}

function counts(names: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of names) m.set(n, (m.get(n) ?? 0) + 1);
  return m;
}

describe("--lb", () => {
  const replicas: Named[] = [];

  before(async () => {
    for (const name of ["a", "b", "c"]) replicas.push(await named(name));
  });

  after(() => {
    for (const r of replicas) r.server.close();
  });

  async function ingress(lb: string, extra: string[] = []): Promise<Gatehouse> {
    const gh = await startGatehouse([...freePortFlags(), "--route", "/:web", "--lb", lb, ...extra]);
    for (const r of replicas) await register(gh.towerPort!, "web", r.port);
    return gh;
  }

  it("round-robin: each replica in turn, 10 of 30 each", async () => {
    const gh = await ingress("round-robin");
    try {
      const by = counts(await answers(gh.httpPort, Array(30).fill("")));
      assert.deepEqual([...by.values()], [10, 10, 10]);
    } finally {
      await gh.kill();
    }
  });

  it("random: every replica gets some of 300", async () => {
    const gh = await ingress("random");
    try {
      const by = counts(await answers(gh.httpPort, Array(300).fill("")));
      assert.equal(by.size, 3);
      for (const [name, n] of by) assert.ok(n >= 50, `${name} got ${n} of 300`);
    } finally {
      await gh.kill();
    }
  });

  it("header:X-User: one user, one replica; users spread over all", async () => {
    const gh = await ingress("header:X-User");
    try {
      for (const user of ["ann", "bob", "cy"]) {
        const seen = new Set(await answers(gh.httpPort, Array(10).fill(`X-User: ${user}\r\n`)));
        assert.equal(seen.size, 1, `${user} went to ${[...seen]}`);
      }
      const users = Array.from({ length: 60 }, (_, i) => `X-User: user-${i}\r\n`);
      assert.equal(counts(await answers(gh.httpPort, users)).size, 3);
    } finally {
      await gh.kill();
    }
  });

  it("cookie:sid: a session stays on its replica; a key whose replica leaves moves to its next", async () => {
    const gh = await ingress("cookie:sid");
    try {
      const heads = Array.from({ length: 60 }, (_, i) => `Cookie: theme=dark; sid=s${i}\r\n`);
      const first = await answers(gh.httpPort, heads);
      assert.deepEqual(await answers(gh.httpPort, heads), first, "a session changed replica");
      assert.equal(counts(first).size, 3);
      // Replica b leaves: only its sessions move.
      await deregister(gh.towerPort!, "web", replicas[1].port);
      const after = await answers(gh.httpPort, heads);
      for (let i = 0; i < heads.length; i++) {
        if (first[i] !== "b") assert.equal(after[i], first[i], `session s${i} moved`);
        else assert.notEqual(after[i], "b");
      }
    } finally {
      await gh.kill();
    }
  });

  it("weights from the Tower's REGISTER extension: 3:1:1 under round robin, and a heartbeat changes it", async () => {
    const gh = await startGatehouse([
      ...freePortFlags(),
      "--route",
      "/:web",
      "--lb",
      "round-robin",
    ]);
    try {
      const [a, b, c] = replicas;
      assert.equal(
        await towerRequest(gh.towerPort!, `REGISTER|web|127.0.0.1|${a.port}|weight=3`),
        "OK|REGISTERED|web",
      );
      await register(gh.towerPort!, "web", b.port);
      await register(gh.towerPort!, "web", c.port);
      let by = counts(await answers(gh.httpPort, Array(50).fill("")));
      assert.deepEqual([by.get("a"), by.get("b"), by.get("c")], [30, 10, 10]);
      // LIST shows no weight: what a seed client reads is unchanged.
      assert.match(
        await towerRequest(gh.towerPort!, "LIST"),
        new RegExp(`web:127.0.0.1:${a.port}:\\d+,`),
      );
      await towerRequest(gh.towerPort!, `REGISTER|web|127.0.0.1|${a.port}`);
      by = counts(await answers(gh.httpPort, Array(30).fill("")));
      // Even shares now (round robin's running credit may lend one request either way).
      for (const name of ["a", "b", "c"]) {
        assert.ok(Math.abs((by.get(name) ?? 0) - 10) <= 1, `${name}: ${by.get(name)} of 30`);
      }
    } finally {
      await gh.kill();
    }
  });

  it("client-ip: one client, one replica; behind a trusted proxy, by its X-Real-IP", async () => {
    const gh = await ingress("client-ip", ["--trusted-proxies", "127.0.0.1"]);
    try {
      assert.equal(new Set(await answers(gh.httpPort, Array(10).fill(""))).size, 1);
      const clients = Array.from({ length: 60 }, (_, i) => `X-Real-IP: 10.9.0.${i}\r\n`);
      const first = await answers(gh.httpPort, clients);
      assert.equal(counts(first).size, 3);
      assert.deepEqual(await answers(gh.httpPort, clients), first);
    } finally {
      await gh.kill();
    }
  });
});
