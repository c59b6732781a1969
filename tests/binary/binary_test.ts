/**
 * The compiled executable, end to end. Runs only with GATEHOUSE_BIN set to
 * the binary (tests/run_all.ts sets it after compile.sh); without it the file
 * fails on purpose rather than passing vacuously.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { existsSync } from "node:fs";
import { type EchoBackend, startEchoBackend } from "../helpers/backends.ts";
import { freePortFlags, type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { echoOf, request } from "../helpers/http.ts";
import { ping, register } from "../helpers/tower.ts";

const BIN = process.env.GATEHOUSE_BIN;

describe("compiled binary", () => {
  const started: Gatehouse[] = [];
  let web: EchoBackend | undefined;

  after(async () => {
    await Promise.all(started.map((g) => g.kill()));
    await web?.close();
  });

  it("is given by GATEHOUSE_BIN", () => {
    assert.ok(
      BIN,
      "GATEHOUSE_BIN is not set: build with ./compile.sh and run " +
        "GATEHOUSE_BIN=dist/gatehouse deno test -A tests/binary/",
    );
    assert.ok(existsSync(BIN), `GATEHOUSE_BIN=${BIN} does not exist`);
  });

  it("routes a request through an embedded Tower", { skip: !BIN }, async () => {
    web = await startEchoBackend("web");
    const gh = await startGatehouse([...freePortFlags(), "--route", "/:web"]);
    started.push(gh);
    await register(gh.towerPort!, "web", web.port);
    const res = await request(gh.httpPort, { path: "/from-binary?x=1" });
    assert.equal(res.status, 200, res.text);
    const e = echoOf(res);
    assert.equal(e.backend, "web");
    assert.equal(e.url, "/from-binary?x=1");
  });

  it("runs a standalone Tower that answers PING", { skip: !BIN }, async () => {
    const tower = await startGatehouse(["tower", "--listen", "127.0.0.1:0"]);
    started.push(tower);
    assert.equal(await ping(tower.towerPort!), "OK|PONG|tower");
  });
});
