/**
 * `gatehouse register --route` (src/cli/register_flags.ts): each route in
 * the ingress's `--route` syntax without the service, read into its one
 * written form; a bad one, a repeated one, or the service "routes" in etcd
 * refused with one line, as a user sees it. Pure: runs unchanged under
 * `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseRegisterArgs, RegisterUsageError } from "../../src/cli/register_flags.ts";

const TOWER = ["--registry", "tower://127.0.0.1", "--service", "api", "--addr", "127.0.0.1:8081"];
const ETCD = ["--registry", "etcd://127.0.0.1/gh", "--service", "api", "--addr", "127.0.0.1:8081"];

function refused(args: string[], message: string | RegExp): void {
  assert.throws(
    () => parseRegisterArgs(args),
    (e: unknown) => {
      assert.ok(e instanceof RegisterUsageError, String(e));
      if (typeof message === "string") assert.equal(e.message, message);
      else assert.match(e.message, message);
      return true;
    },
  );
}

describe("gatehouse register --route", () => {
  it("declares no route unless asked", () => {
    assert.deepEqual(parseRegisterArgs(TOWER)?.routes, []);
  });

  it("reads each --route as [HOST]/PREFIX in its one written form", () => {
    const options = parseRegisterArgs([
      ...TOWER,
      "--route",
      "/api/",
      "--route",
      "Shop.Example.com/",
      "--route",
      "/img*",
      "--route",
      "*.example.com/v2",
      "--",
      "node",
      "server.js",
    ]);
    assert.deepEqual(options?.routes, [
      { host: "", prefix: "/api", text: "/api" },
      { host: "shop.example.com", prefix: "/", text: "shop.example.com/" },
      { host: "", prefix: "/img*", text: "/img*" },
      { host: "*.example.com", prefix: "/v2", text: "*.example.com/v2" },
    ]);
    assert.deepEqual(options?.command, ["node", "server.js"]);
    assert.deepEqual(parseRegisterArgs([...ETCD, "--route", "/api"])?.routes.length, 1);
  });

  it("refuses what is no route, with the value and the reason", () => {
    refused(
      [...TOWER, "--route", "api"],
      /^--route: invalid route "api": the path prefix must start with "\/"$/,
    );
    refused([...TOWER, "--route", ""], /^--route: invalid route "": expected \[HOST\]\/PREFIX/);
    refused(
      [...TOWER, "--route", "bad_host!/api"],
      /^--route: invalid route "bad_host!\/api": "bad_host!" is not a host name$/,
    );
    refused(
      [...TOWER, "--route", "/a b"],
      /^--route: invalid route "\/a b": expected \[HOST\]\/PREFIX in visible ASCII/,
    );
    refused([...TOWER, "--route", "/a|b"], /^--route: invalid route "\/a\|b"/);
    refused([...TOWER, "--route", "/a?b"], /may not contain spaces, "\?", "#" or "\*"$/);
  });

  it("refuses the same route twice", () => {
    refused(
      [...TOWER, "--route", "/api", "--route", "/api/"],
      '--route: "/api/" is the same route as "/api"',
    );
  });

  it("refuses more than 64 routes", () => {
    const many = Array.from({ length: 65 }, (_, i) => ["--route", `/p${i}`]).flat();
    refused([...TOWER, ...many], "--route: at most 64, not 65");
  });

  it('refuses the service "routes" in etcd, where declared routes live; a Tower takes it', () => {
    refused(
      ["--registry", "etcd://127.0.0.1/gh", "--service", "routes", "--addr", "127.0.0.1:8081"],
      '--service: "routes" cannot be a service name in etcd: /gh/routes/ holds declared routes',
    );
    const tower = parseRegisterArgs([
      "--registry",
      "tower://127.0.0.1",
      "--service",
      "routes",
      "--addr",
      "127.0.0.1:8081",
    ]);
    assert.equal(tower?.service, "routes");
  });
});
