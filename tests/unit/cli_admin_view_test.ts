/**
 * `gatehouse routes|services` (src/cli/admin_view.ts): their flags (the
 * admin URL, HOST:PORT, the token from the flag or the environment) and
 * the tables they print. Runs under `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  adminViewCommand,
  DEFAULT_ADMIN_URL,
  routesTable,
  servicesTable,
} from "../../src/cli/admin_view.ts";
import { parseCommandLine } from "../../src/cli/command_line.ts";
import { UsageError } from "../../src/cli/flags.ts";
import type { ReplicaView } from "../../src/admin/views.ts";

const noEnv = () => undefined;

describe("gatehouse routes|services flags", () => {
  it("asks the default admin listener, without a token, by default", () => {
    assert.deepEqual(adminViewCommand("routes", [], noEnv), {
      what: "routes",
      admin: DEFAULT_ADMIN_URL,
      token: null,
    });
  });

  it("takes a URL or HOST:PORT, and the token from the flag over the environment", () => {
    const env = (name: string) => name === "GATEHOUSE_ADMIN_TOKEN" ? "from-env" : undefined;
    assert.deepEqual(adminViewCommand("services", ["--admin", "10.0.0.5:9901"], env), {
      what: "services",
      admin: "http://10.0.0.5:9901",
      token: "from-env",
    });
    const flagged = adminViewCommand(
      "services",
      ["--admin", "https://gw.example/", "--admin-token", "t"],
      env,
    );
    assert.equal(flagged?.admin, "https://gw.example");
    assert.equal(flagged?.token, "t");
  });

  it("refuses another scheme or an unknown flag (usage, exit 2), and has --help", () => {
    assert.throws(() => adminViewCommand("routes", ["--admin", "ftp://x"], noEnv), UsageError);
    assert.throws(() => adminViewCommand("routes", ["--bogus"], noEnv), UsageError);
    assert.equal(adminViewCommand("routes", ["--help"], noEnv), null);
    assert.equal(parseCommandLine(["services", "--help"]).kind, "help");
    assert.equal(parseCommandLine(["routes"]).kind, "admin-view");
  });
});

describe("the tables", () => {
  it("prints routes with their service, origin and rules", () => {
    const text = routesTable({
      generation: 4,
      routes: [
        {
          route: "/api",
          host: "",
          prefix: "/api",
          stringPrefix: false,
          service: "api",
          origin: "--route",
          rules: {},
        },
        {
          route: "shop.example.com/img*",
          host: "shop.example.com",
          prefix: "/img",
          stringPrefix: true,
          service: "",
          origin: "gatehouse.yaml:12",
          rules: { "strip-prefix": true, respond: { status: 503 } },
        },
      ],
    });
    assert.equal(
      text,
      [
        "ROUTE                  SERVICE                ORIGIN             RULES",
        "/api                   api                    --route",
        'shop.example.com/img*  (the ingress answers)  gatehouse.yaml:12  strip-prefix, respond={"status":503}',
        "config generation 4, 2 routes",
      ].join("\n"),
    );
  });

  it("prints a row per replica, the ejection's reason and the last error's age", () => {
    const now = Date.parse("2026-01-01T00:00:30Z");
    const replica: ReplicaView = {
      address: "10.0.0.7:8081",
      source: "embedded Tower",
      state: "ejected",
      health: "unchecked",
      ejections: 2,
      reason: "5 consecutive 5xx",
      ejectedUntil: "2026-01-01T00:01:00Z",
      active: 1,
      lastError: "answered 500",
      lastErrorAt: "2026-01-01T00:00:20Z",
      weight: 2,
      effectiveWeight: 2,
      drained: false,
    };
    const text = servicesTable({
      registry: "embedded Tower",
      services: [
        { name: "api", replicas: [replica], requests: 1, panicking: false, checked: false },
        { name: "web", replicas: [], requests: 0, panicking: false, checked: false },
      ],
    }, now);
    assert.equal(
      text,
      [
        "SERVICE  REPLICA        STATE                       ACTIVE  WEIGHT  EJECTIONS  LAST ERROR",
        "api      10.0.0.7:8081  ejected: 5 consecutive 5xx  1       2       2          answered 500 (10 s ago)",
        "web      -              (no replica)",
        "registry: embedded Tower",
      ].join("\n"),
    );
  });
});
