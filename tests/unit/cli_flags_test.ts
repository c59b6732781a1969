/**
 * The command line to a configuration (src/cli/): the defaults, every flag,
 * the sub-commands, and the one-line UsageError a user sees for each mistake.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { IngressConfig } from "../../src/app/config.ts";
import { type Command, parseCommandLine } from "../../src/cli/command_line.ts";
import { USAGE } from "../../src/cli/ingress_flags.ts";
import { UsageError } from "../../src/cli/flags.ts";
import { DEFAULT_TOWER_PORT } from "../../src/tower.ts";

/** The ingress config for these flags (fails if the command is something else). */
function ingress(args: string[]): IngressConfig {
  const cmd = parseCommandLine(args);
  if (cmd.kind !== "ingress") assert.fail(`expected an ingress command, got ${cmd.kind}`);
  return cmd.config;
}

/** Assert that the flags are refused with exactly this message. */
function usage(args: string[], message: string | RegExp): void {
  assert.throws(
    () => parseCommandLine(args),
    (e: unknown) => {
      assert.ok(e instanceof UsageError, `not a UsageError: ${e}`);
      assert.equal(e.name, "UsageError");
      assert.ok(!e.message.includes("\n"), `message is one line: ${JSON.stringify(e.message)}`);
      if (typeof message === "string") assert.equal(e.message, message);
      else assert.match(e.message, message);
      return true;
    },
    JSON.stringify(args),
  );
}

const ROUTE = ["--route", "/:web"];

describe("parseCommandLine: defaults", () => {
  it("fills in every default", () => {
    const c = ingress(ROUTE);
    const { routes, trustedProxies, towerSecurity: { allow, ...towerSecurity }, ...rest } = c;
    assert.deepEqual(rest, {
      listeners: [{ listen: { host: "0.0.0.0", port: 9090 }, tls: null }],
      configFile: null,
      services: new Map(),
      registry: { kind: "embedded", listen: { host: "127.0.0.1", port: 7772 } },
      connectionCap: 10000,
      serviceDefaults: {
        retries: 3,
        balance: { kind: "least-outstanding" },
        health: null,
        replicaPolicy: {
          gatewayFailures: 5,
          serverErrors: 5,
          baseEjectionMs: 30_000,
          maxEjectionMs: 300_000,
          maxEjectedPercent: 50,
          stallWindowMs: 1_000,
          retryBudgetPercent: 20,
          retryBudgetMin: 3,
          hedge: true,
          slowStartMs: 0,
        },
      },
      lookupCacheMs: 0,
      maxHeaderSize: 32768,
      headerTimeoutMs: 10_000,
      keepaliveTimeoutMs: 60_000,
      connectTimeoutMs: 3_000,
      upstreamReceiveBuffer: 131072,
      upstreamReceiveBufferGiven: false,
      upstreamTimeoutMs: 60_000,
      bodyTimeoutMs: 60_000,
      upstreamReadTimeoutMs: 60_000,
      sendTimeoutMs: 60_000,
      upstreamSendTimeoutMs: 60_000,
      tryTimeoutMs: 0,
      tunnelIdleTimeoutMs: 30_000,
      graceMs: 10_000,
      shutdownDelayMs: 0,
      admin: null,
      poolSize: 1024,
      poolIdleTimeoutMs: 4_000,
      accessLog: false,
      accessLogFormat: "classic",
      accessLogFile: null,
      debugErrors: false,
      procs: 1,
      via: "gatehouse",
    });
    assert.deepEqual(towerSecurity, {
      secret: null,
      rate: null,
      maxEntries: 10000,
      routes: false,
      maxRoutes: 1000,
    });
    assert.deepEqual(routes.map((r) => r.source), ["/:web"]);
    assert.equal(trustedProxies.empty, true);
    assert.equal(allow.empty, true);
  });

  it("uses the seed's Tower port", () => {
    assert.equal(DEFAULT_TOWER_PORT, 7772);
  });
});

describe("parseCommandLine: the seed's flags", () => {
  it("accepts --listen PORT, --tower HOST and repeated --route", () => {
    const c = ingress([
      "--listen",
      "8080",
      "--tower",
      "10.0.0.5",
      "--route",
      "/api:api-service",
      "--route",
      "/:frontend",
      "--workers",
      "64",
    ]);
    assert.deepEqual(c.listeners[0].listen, { host: "0.0.0.0", port: 8080 });
    assert.deepEqual(c.registry, { kind: "tower", address: { host: "10.0.0.5", port: 7772 } });
    assert.deepEqual(c.routes.map((r) => [r.prefix, r.service]), [
      ["/api", "api-service"],
      ["/", "frontend"],
    ]);
    assert.equal(c.connectionCap, 64);
  });

  it("accepts --tls-cert and --tls-key together", () => {
    const c = ingress([...ROUTE, "--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
    assert.deepEqual(c.listeners[0].tls, { certPath: "cert.pem", keyPath: "key.pem" });
  });

  it("accepts the --flag=value form", () => {
    const c = ingress(["--route=/:web", "--listen=127.0.0.1:81"]);
    assert.deepEqual(c.listeners[0].listen, { host: "127.0.0.1", port: 81 });
  });
});

describe("parseCommandLine: the other flags", () => {
  it("reads every flag", () => {
    const c = ingress([
      ...ROUTE,
      "--listen",
      "[::1]:8443",
      "--tower-listen",
      "0.0.0.0:7000",
      "--retries",
      "5",
      "--max-header-size",
      "8192",
      "--header-timeout",
      "2s",
      "--keepalive-timeout",
      "90",
      "--connect-timeout",
      "250ms",
      "--upstream-timeout",
      "2m",
      "--body-timeout",
      "5s",
      "--upstream-read-timeout",
      "6s",
      "--send-timeout",
      "7s",
      "--upstream-send-timeout",
      "0",
      "--idle-timeout",
      "1h",
      "--grace",
      "1.5s",
      "--pool-size",
      "0",
      "--pool-idle-timeout",
      "500ms",
      "--upstream-rcvbuf",
      "65536",
      "--trusted-proxies",
      "10.0.0.0/8, ::1",
      "--access-log",
      "--via",
      "edge-1",
      "--debug-errors",
    ]);
    assert.deepEqual(c.listeners[0].listen, { host: "::1", port: 8443 });
    assert.deepEqual(c.registry, { kind: "embedded", listen: { host: "0.0.0.0", port: 7000 } });
    assert.equal(c.serviceDefaults.retries, 5);
    assert.equal(c.maxHeaderSize, 8192);
    assert.equal(c.headerTimeoutMs, 2000);
    assert.equal(c.keepaliveTimeoutMs, 90_000);
    assert.equal(c.connectTimeoutMs, 250);
    assert.equal(c.upstreamTimeoutMs, 120_000);
    assert.equal(c.bodyTimeoutMs, 5_000);
    assert.equal(c.upstreamReadTimeoutMs, 6_000);
    assert.equal(c.sendTimeoutMs, 7_000);
    assert.equal(c.upstreamSendTimeoutMs, 0);
    assert.equal(c.tunnelIdleTimeoutMs, 3_600_000);
    assert.equal(c.graceMs, 1500);
    assert.equal(c.poolSize, 0);
    assert.equal(c.poolIdleTimeoutMs, 500);
    assert.equal(c.upstreamReceiveBuffer, 65536);
    assert.equal(c.upstreamReceiveBufferGiven, true);
    assert.equal(c.trustedProxies.contains("10.1.2.3"), true);
    assert.equal(c.trustedProxies.contains("::1"), true);
    assert.equal(c.trustedProxies.contains("192.168.0.1"), false);
    assert.equal(c.accessLog, true);
    assert.equal(c.via, "edge-1");
    assert.equal(c.debugErrors, true);
  });

  it("takes --via off as no Via, and any token as the pseudonym", () => {
    assert.equal(ingress([...ROUTE, "--via", "off"]).via, null);
    assert.equal(ingress([...ROUTE, "--via", "Off"]).via, "Off");
    assert.equal(ingress([...ROUTE, "--via", "a.b_c~d!#$%&'*+^`|"]).via, "a.b_c~d!#$%&'*+^`|");
    assert.equal(ingress([...ROUTE, "--via", "x".repeat(64)]).via, "x".repeat(64));
  });

  it("takes a remote Tower with a port or as [IPv6]", () => {
    assert.deepEqual(ingress([...ROUTE, "--tower", "tower.internal:9999"]).registry, {
      kind: "tower",
      address: { host: "tower.internal", port: 9999 },
    });
    assert.deepEqual(ingress([...ROUTE, "--tower", "[fd00::1]"]).registry, {
      kind: "tower",
      address: { host: "fd00::1", port: 7772 },
    });
  });

  it("takes an embedded Tower host without a port", () => {
    assert.deepEqual(ingress([...ROUTE, "--tower-listen", "0.0.0.0"]).registry, {
      kind: "embedded",
      listen: { host: "0.0.0.0", port: 7772 },
    });
  });

  it("accepts the bounds of the counted flags", () => {
    assert.equal(ingress([...ROUTE, "--workers", "1"]).connectionCap, 1);
    assert.equal(ingress([...ROUTE, "--workers", "1000000"]).connectionCap, 1_000_000);
    assert.equal(ingress([...ROUTE, "--procs", "64"]).procs, 64);
    assert.equal(ingress([...ROUTE, "--retries", "100"]).serviceDefaults.retries, 100);
    assert.equal(ingress([...ROUTE, "--max-header-size", "1024"]).maxHeaderSize, 1024);
    assert.equal(ingress([...ROUTE, "--max-header-size", "1048576"]).maxHeaderSize, 1048576);
    assert.equal(ingress([...ROUTE, "--pool-size", "100000"]).poolSize, 100_000);
  });
});

describe("parseCommandLine: commands", () => {
  it("answers help and version", () => {
    assert.deepEqual(parseCommandLine(["--help"]), { kind: "help", usage: USAGE });
    assert.deepEqual(parseCommandLine(["-h"]), { kind: "help", usage: USAGE });
    assert.deepEqual(parseCommandLine(["--version"]), { kind: "version" });
    // Help wins even when nothing else is valid yet.
    assert.deepEqual(parseCommandLine(["--listen", "99999", "--help"]), {
      kind: "help",
      usage: USAGE,
    });
    const register = parseCommandLine(["register", "--help"]);
    assert.ok(register.kind === "help" && register.usage.startsWith("usage: gatehouse register"));
  });

  it("runs a standalone Tower", () => {
    const tower = (args: string[]) => {
      const cmd = parseCommandLine(["tower", ...args]);
      if (cmd.kind !== "tower") assert.fail(`got ${cmd.kind}`);
      return cmd.tower;
    };
    assert.deepEqual(tower([]).listen, { host: "127.0.0.1", port: 7772 });
    assert.equal(tower([]).security.allow.empty, true);
    assert.deepEqual(tower(["--listen", "0.0.0.0:7773"]).listen, {
      host: "0.0.0.0",
      port: 7773,
    });
    assert.deepEqual(tower(["--listen", "7774"]).listen, { host: "127.0.0.1", port: 7774 });
    assert.deepEqual(tower(["--listen", "0.0.0.0"]).listen, { host: "0.0.0.0", port: 7772 });
    assert.deepEqual(parseCommandLine(["tower", "--help"]), { kind: "help", usage: USAGE });
  });

  it("takes a standalone Tower's registration allowlist", () => {
    const cmd = parseCommandLine(["tower", "--allow", "10.0.0.0/8,::1"]);
    if (cmd.kind !== "tower") assert.fail(`got ${cmd.kind}`);
    assert.equal(cmd.tower.security.allow.contains("10.2.3.4"), true);
    assert.equal(cmd.tower.security.allow.contains("::1"), true);
    assert.equal(cmd.tower.security.allow.contains("192.0.2.1"), false);
    usage(
      ["tower", "--allow", "10.0.0.0/99"],
      '--allow: invalid CIDR "10.0.0.0/99": prefix length must be 0-32',
    );
  });

  it("takes the embedded Tower's registration allowlist", () => {
    const c = ingress([...ROUTE, "--tower-allow", "127.0.0.0/8"]);
    assert.equal(c.towerSecurity.allow.contains("127.0.0.1"), true);
    assert.equal(c.towerSecurity.allow.contains("10.0.0.1"), false);
    usage(
      [...ROUTE, "--tower", "h", "--tower-allow", "127.0.0.0/8"],
      "--tower-allow applies to the embedded Tower only",
    );
    usage(
      [...ROUTE, "--tower-allow", "x"],
      '--tower-allow: invalid CIDR "x": not an IP address',
    );
  });

  it("runs the demo with a default route to the frontend", () => {
    const cmd: Command = parseCommandLine(["demo", "--listen", "8080"]);
    if (cmd.kind !== "demo") assert.fail(`got ${cmd.kind}`);
    assert.deepEqual(cmd.config.listeners[0].listen, { host: "0.0.0.0", port: 8080 });
    assert.deepEqual(cmd.config.routes.map((r) => [r.prefix, r.service]), [["/", "frontend"]]);
    assert.deepEqual(parseCommandLine(["demo", "--help"]), { kind: "help", usage: USAGE });
  });

  it("keeps the demo's own routes when given", () => {
    const cmd = parseCommandLine(["demo", "--route", "/x:xsvc"]);
    if (cmd.kind !== "demo") assert.fail(`got ${cmd.kind}`);
    assert.deepEqual(cmd.config.routes.map((r) => r.service), ["xsvc"]);
  });

  it("has a usage text naming every flag", () => {
    for (
      const flag of [
        "--listen",
        "--route",
        "--tower",
        "--tower-listen",
        "--workers",
        "--retries",
        "--tls-cert",
        "--tls-key",
        "--max-header-size",
        "--header-timeout",
        "--keepalive-timeout",
        "--connect-timeout",
        "--upstream-timeout",
        "--upstream-read-timeout",
        "--upstream-send-timeout",
        "--body-timeout",
        "--send-timeout",
        "--idle-timeout",
        "--grace",
        "--pool-size",
        "--pool-idle-timeout",
        "--trusted-proxies",
        "--via",
        "--tower-allow",
        "--access-log",
        "--debug-errors",
      ]
    ) {
      assert.ok(USAGE.includes(flag + " "), flag);
    }
  });
});

describe("parseCommandLine: usage errors", () => {
  it("requires a route", () => {
    usage([], "no routes: add at least one --route [HOST]/PREFIX:SERVICE");
    usage(["--listen", "80"], "no routes: add at least one --route [HOST]/PREFIX:SERVICE");
    usage(
      ["--registry", "dns://127.0.0.1:53"],
      "no routes: add at least one --route [HOST]/PREFIX:SERVICE",
    );
    // Where services can declare routes, none need be given.
    assert.deepEqual(ingress(["--tower-routes"]).routes, []);
    assert.deepEqual(ingress(["--registry", "etcd://127.0.0.1"]).routes, []);
    assert.deepEqual(ingress(["--tower", "127.0.0.1"]).routes, []);
  });

  it("explains a bad route", () => {
    usage(
      ["--route", "api:svc"],
      '--route: invalid route "api:svc": the path prefix must start with "/"',
    );
    usage(["--route", "/api"], '--route: invalid route "/api": expected [HOST]/PREFIX:SERVICE');
    usage(
      ["--route", "/:ok", "--route", "/x:bad name"],
      '--route: invalid route "/x:bad name": service name must be 1-63 of [A-Za-z0-9._-]',
    );
  });

  it("refuses unknown commands, options and stray arguments", () => {
    usage(["serve"], 'unknown command "serve" (try --help)');
    usage(["--bogus", ...ROUTE], "Unknown option '--bogus'");
    usage(["-x", ...ROUTE], "Unknown option '-x'");
    usage([...ROUTE, "extra"], /^Unexpected argument 'extra'/);
    usage(["tower", "--route", "/:a"], "Unknown option '--route'");
  });

  it("refuses a flag without its value", () => {
    usage([...ROUTE, "--listen"], "Option '--listen <value>' argument missing");
    usage(["--route"], "Option '--route <value>' argument missing");
  });

  it("refuses a value for a switch", () => {
    usage([...ROUTE, "--access-log=yes"], "Option '--access-log' does not take an argument");
  });

  it("explains bad ports and addresses", () => {
    usage([...ROUTE, "--listen", "99999"], '--listen: "99999": port must be 0-65535');
    usage([...ROUTE, "--listen", "65536"], '--listen: "65536": port must be 0-65535');
    usage([...ROUTE, "--listen", "080"], '--listen: "080": port must be 0-65535');
    usage([...ROUTE, "--listen", "a:b"], '--listen: "a:b": port must be 0-65535');
    usage([...ROUTE, "--listen", "localhost"], '--listen: "localhost": needs a port (HOST:PORT)');
    usage([...ROUTE, "--listen", "::1"], '--listen: "::1": write IPv6 as [ADDR]:PORT');
    usage(
      [...ROUTE, "--listen", "a b:80"],
      '--listen: "a b:80": "a b" is not an IP address or host name',
    );
    usage([...ROUTE, "--listen", ""], '--listen: "": empty host');
    usage(
      [...ROUTE, "--tower", "h:-1"],
      '--tower: invalid Tower address "h:-1": port must be 1-65535 (expected HOST[:PORT])',
    );
    usage([...ROUTE, "--tower-listen", "h:x"], '--tower-listen: "h:x": port must be 0-65535');
    usage(
      ["tower", "--listen", "1.2.3.4:70000"],
      '--listen: "1.2.3.4:70000": port must be 0-65535',
    );
  });

  it("refuses a remote Tower on port 0", () => {
    usage(
      [...ROUTE, "--tower", "h:0"],
      '--tower: invalid Tower address "h:0": port must be 1-65535 (expected HOST[:PORT])',
    );
  });

  it("refuses both a remote and an embedded Tower", () => {
    usage(
      [...ROUTE, "--tower", "h", "--tower-listen", "127.0.0.1:7772"],
      "--tower and --tower-listen exclude each other: pick one registry",
    );
  });

  it("refuses half a TLS configuration", () => {
    usage([...ROUTE, "--tls-cert", "c.pem"], "--tls-cert and --tls-key go together");
    usage([...ROUTE, "--tls-key", "k.pem"], "--tls-cert and --tls-key go together");
  });

  it("explains bad counts", () => {
    usage([...ROUTE, "--workers", "0"], '--workers: "0" must be a whole number from 1 to 1000000');
    usage(
      [...ROUTE, "--workers", "1000001"],
      '--workers: "1000001" must be a whole number from 1 to 1000000',
    );
    usage([...ROUTE, "--workers=-1"], '--workers: "-1" must be a whole number from 1 to 1000000');
    usage(
      [...ROUTE, "--workers", "1e3"],
      '--workers: "1e3" must be a whole number from 1 to 1000000',
    );
    usage(
      [...ROUTE, "--workers", "ten"],
      '--workers: "ten" must be a whole number from 1 to 1000000',
    );
    usage([...ROUTE, "--retries", "0"], '--retries: "0" must be a whole number from 1 to 100');
    usage([...ROUTE, "--retries", "2.5"], '--retries: "2.5" must be a whole number from 1 to 100');
    usage(
      [...ROUTE, "--max-header-size", "1023"],
      '--max-header-size: "1023" must be a whole number from 1024 to 1048576',
    );
    usage(
      [...ROUTE, "--pool-size=-5"],
      '--pool-size: "-5" must be a whole number from 0 to 100000',
    );
  });

  it("takes --upstream-rcvbuf 0 as the kernel's sizing and explains bad sizes", () => {
    const c = ingress([...ROUTE, "--upstream-rcvbuf", "0"]);
    assert.equal(c.upstreamReceiveBuffer, 0);
    assert.equal(c.upstreamReceiveBufferGiven, true);
    assert.equal(ingress([...ROUTE, "--upstream-rcvbuf", "4096"]).upstreamReceiveBuffer, 4096);
    for (const bad of ["4095", "67108865", "128k", "-1", "1e5", ""]) {
      usage(
        [...ROUTE, `--upstream-rcvbuf=${bad}`],
        `--upstream-rcvbuf: "${bad}" must be 0 (the kernel's sizing) or bytes from 4096 to 67108864`,
      );
    }
  });

  it("explains bad durations", () => {
    for (
      const [flag, value] of [
        ["--header-timeout", "soon"],
        ["--keepalive-timeout", "-1s"],
        ["--connect-timeout", "1d"],
        ["--upstream-timeout", "10 s"],
        ["--body-timeout", "1d"],
        ["--send-timeout", "soon"],
        ["--idle-timeout", "s"],
        ["--grace", ""],
        ["--pool-idle-timeout", "1e3"],
      ]
    ) {
      usage(
        [...ROUTE, `${flag}=${value}`],
        `${flag}: "${value}" is not a duration (like 500ms, 10s, 2m)`,
      );
    }
  });

  it("explains a bad trusted-proxies list", () => {
    usage(
      [...ROUTE, "--trusted-proxies", "10.0.0.0/8,nope"],
      '--trusted-proxies: invalid CIDR "nope": not an IP address',
    );
    usage(
      [...ROUTE, "--trusted-proxies", "10.0.0.0/40"],
      '--trusted-proxies: invalid CIDR "10.0.0.0/40": prefix length must be 0-32',
    );
  });

  it("reads how replicas are judged: ejection, stalls, the retry budget, hedging", () => {
    const c = ingress([
      ...ROUTE,
      "--outlier-gateway-failures",
      "3",
      "--outlier-5xx",
      "0",
      "--ejection-time",
      "10s",
      "--max-ejection-time",
      "1m",
      "--max-ejected",
      "100",
      "--stall-window",
      "2s",
      "--retry-budget",
      "50:1",
      "--hedge",
      "off",
      "--slow-start",
      "5s",
    ]);
    assert.deepEqual(c.serviceDefaults.replicaPolicy, {
      gatewayFailures: 3,
      serverErrors: 0,
      baseEjectionMs: 10_000,
      maxEjectionMs: 60_000,
      maxEjectedPercent: 100,
      stallWindowMs: 2_000,
      retryBudgetPercent: 50,
      retryBudgetMin: 1,
      hedge: false,
      slowStartMs: 5_000,
    });
    assert.equal(ingress([...ROUTE, "--hedge", "on"]).serviceDefaults.replicaPolicy.hedge, true);
  });

  it("reads --lb and explains a bad one", () => {
    assert.deepEqual(ingress([...ROUTE, "--lb", "round-robin"]).serviceDefaults.balance, {
      kind: "round-robin",
    });
    assert.deepEqual(ingress([...ROUTE, "--lb", "client-ip"]).serviceDefaults.balance, {
      kind: "hash",
      on: { kind: "client" },
    });
    usage(
      [...ROUTE, "--lb", "fastest"],
      '--lb: "fastest" must be least-outstanding, round-robin, random, header:NAME, cookie:NAME or client-ip',
    );
    usage(
      [...ROUTE, "--lb", "header:a b"],
      '--lb: "header:a b" names no valid header (a token of 1-64 characters)',
    );
  });

  it("reads the health check flags, with defaults for those not given", () => {
    assert.deepEqual(ingress([...ROUTE, "--health-path", "/healthz"]).serviceDefaults.health, {
      path: "/healthz",
      method: "GET",
      intervalMs: 5_000,
      timeoutMs: 2_000,
      rise: 2,
      fall: 3,
      statuses: [[200, 399]],
      host: null,
    });
    const c = ingress([
      ...ROUTE,
      "--health-path",
      "/ready?deep=1",
      "--health-method",
      "HEAD",
      "--health-interval",
      "10s",
      "--health-timeout",
      "500ms",
      "--health-rise",
      "1",
      "--health-fall",
      "5",
      "--health-status",
      "2xx,304",
      "--health-host",
      "api.internal",
    ]);
    assert.deepEqual(c.serviceDefaults.health, {
      path: "/ready?deep=1",
      method: "HEAD",
      intervalMs: 10_000,
      timeoutMs: 500,
      rise: 1,
      fall: 5,
      statuses: [[200, 299], [304, 304]],
      host: "api.internal",
    });
  });

  it("explains bad health check flags", () => {
    usage([...ROUTE, "--health-fall", "2"], "--health-fall needs --health-path");
    const hp = [...ROUTE, "--health-path", "/h"];
    usage(
      [...ROUTE, "--health-path", "h"],
      '--health-path: "h" must be a path starting with / (visible ASCII, no spaces)',
    );
    usage(
      [...hp, "--health-method", "get"],
      '--health-method: "get" must be a method such as GET or HEAD',
    );
    usage([...hp, "--health-rise", "0"], '--health-rise: "0" must be a whole number from 1 to 100');
    usage(
      [...hp, "--health-interval", "0"],
      "--health-interval and --health-timeout must be more than 0",
    );
    usage([...hp, "--health-host", "a b"], /--health-host: "a b" must be a host name/);
  });

  it("explains a bad --hedge", () => {
    for (const bad of ["", "yes", "ON", "1"]) {
      usage([...ROUTE, "--hedge", bad], `--hedge: ${JSON.stringify(bad)} must be on or off`);
    }
  });

  it("explains a --via that is no token", () => {
    const why = "is not a token (1-64 letters, digits or !#$%&'*+-.^_`|~), or off for no Via";
    for (const bad of ["", "a b", "a,b", "a/b", "a:80", "(x)", "caf\u00e9", "x".repeat(65)]) {
      usage([...ROUTE, "--via", bad], `--via: ${JSON.stringify(bad)} ${why}`);
    }
  });

  it("refuses a duration no timer can hold instead of firing it at once", () => {
    // setTimeout fires after ~1 ms for delays above 2^31-1 ms (about 24.8 days),
    // so a huge --connect-timeout would fail every connect immediately.
    for (const flag of ["--connect-timeout", "--idle-timeout", "--grace"]) {
      let value = 0;
      try {
        const c = ingress([...ROUTE, flag, "1000h"]);
        value = flag === "--connect-timeout"
          ? c.connectTimeoutMs
          : flag === "--idle-timeout"
          ? c.tunnelIdleTimeoutMs
          : c.graceMs;
      } catch (e) {
        assert.ok(e instanceof UsageError, `${flag}: ${e}`);
        continue; // refusing it is the fix
      }
      assert.ok(value <= 2 ** 31 - 1, `${flag} 1000h became ${value} ms, beyond a timer's range`);
    }
  });
});

describe("parseCommandLine: the access log", () => {
  it("keeps bare --access-log as the classic line on stderr", () => {
    const c = ingress([...ROUTE, "--access-log"]);
    assert.deepEqual([c.accessLog, c.accessLogFormat, c.accessLogFile], [true, "classic", null]);
  });

  it("takes a format and a file, either of which turns the access log on", () => {
    for (const format of ["classic", "json", "common", "combined"]) {
      const c = ingress([...ROUTE, "--access-log-format", format]);
      assert.deepEqual([c.accessLog, c.accessLogFormat, c.accessLogFile], [true, format, null]);
    }
    const file = ingress([...ROUTE, "--access-log-file", "/var/log/gatehouse/access.log"]);
    assert.deepEqual(
      [file.accessLog, file.accessLogFormat, file.accessLogFile],
      [true, "classic", "/var/log/gatehouse/access.log"],
    );
    const both = ingress([...ROUTE, "--access-log-format", "json", "--access-log-file", "a.log"]);
    assert.deepEqual([both.accessLog, both.accessLogFormat, both.accessLogFile], [
      true,
      "json",
      "a.log",
    ]);
  });

  it("explains a bad format or an empty path", () => {
    usage(
      [...ROUTE, "--access-log-format", "xml"],
      '--access-log-format: "xml" must be classic, json, common or combined',
    );
    usage([...ROUTE, "--access-log-format", "JSON"], /must be classic, json, common or combined/);
    usage([...ROUTE, "--access-log-file", ""], "--access-log-file: must name a file");
  });

  it("names both flags in the usage text", () => {
    assert.match(USAGE, /--access-log-format FMT +classic \(default\), json, common or combined/);
    assert.match(USAGE, /--access-log-file PATH +append the access log to PATH/);
  });
});

describe("parseCommandLine: registries", () => {
  it("takes --registry tower:// as a remote Tower and dns:// / etcd:// as registries", () => {
    assert.deepEqual(ingress([...ROUTE, "--registry", "tower://10.0.0.2"]).registry, {
      kind: "tower",
      address: { host: "10.0.0.2", port: 7772 },
    });
    const etcd = ingress([...ROUTE, "--registry", "etcd://127.0.0.1:2379,127.0.0.2/prod"]).registry;
    assert.ok(etcd.kind === "etcd");
    assert.deepEqual(etcd.endpoints, ["http://127.0.0.1:2379", "http://127.0.0.2:2379"]);
    assert.equal(etcd.prefix, "/prod");
    const dns = ingress([...ROUTE, "--registry", "dns://127.0.0.1:5353"]).registry;
    assert.ok(dns.kind === "dns");
    assert.deepEqual(dns.options, { servers: ["127.0.0.1:5353"] });
  });

  it("refuses an unknown scheme and two registries at once", () => {
    usage([...ROUTE, "--registry", "zk://h"], /^--registry: "zk:\/\/h" is not a registry URL/);
    usage(
      [...ROUTE, "--registry", "tower://h", "--tower", "h"],
      "--tower and --registry exclude each other: pick one registry",
    );
  });

  it("reads --lookup-cache as a duration", () => {
    assert.equal(ingress([...ROUTE, "--lookup-cache", "250ms"]).lookupCacheMs, 250);
  });
});

describe("parseCommandLine: Tower security", () => {
  it("takes a secret from the flag or from GATEHOUSE_TOWER_SECRET, flag first", () => {
    const env = (n: string) => (n === "GATEHOUSE_TOWER_SECRET" ? "from-env" : undefined);
    const a = parseCommandLine([...ROUTE], env);
    assert.ok(a.kind === "ingress" && a.config.towerSecurity.secret === "from-env");
    const b = parseCommandLine([...ROUTE, "--tower-secret", "flag"], env);
    assert.ok(b.kind === "ingress" && b.config.towerSecurity.secret === "flag");
    const t = parseCommandLine(["tower", "--secret", "s", "--rate", "5", "--max-entries", "7"]);
    assert.ok(t.kind === "tower");
    const { allow, ...security } = t.tower.security;
    assert.deepEqual(security, {
      secret: "s",
      rate: { perSecond: 5, burst: 10 },
      maxEntries: 7,
      routes: false,
      maxRoutes: 1000,
    });
    assert.equal(allow.empty, true);
    // An empty secret is no secret, from the flag or from the environment.
    const empty = parseCommandLine([...ROUTE, "--tower-secret", ""], () => "");
    assert.ok(empty.kind === "ingress" && empty.config.towerSecurity.secret === null);
  });

  it("reads --tower-rate N[:BURST] and refuses nonsense", () => {
    const c = ingress([...ROUTE, "--tower-rate", "2:3"]);
    assert.deepEqual(c.towerSecurity.rate, { perSecond: 2, burst: 3 });
    usage([...ROUTE, "--tower-rate", "0"], /^--tower-rate: "0" must be PER_SECOND\[:BURST\]/);
    usage([...ROUTE, "--tower-rate", "x"], /^--tower-rate: "x" must be PER_SECOND\[:BURST\]/);
  });

  it("refuses Tower limits when the Tower is remote", () => {
    usage(
      [...ROUTE, "--tower", "h", "--tower-rate", "5"],
      "--tower-rate applies to the embedded Tower only",
    );
    usage(
      [...ROUTE, "--registry", "etcd://127.0.0.1", "--tower-routes"],
      "--tower-routes applies to the embedded Tower only",
    );
    usage(
      [...ROUTE, "--tower", "h", "--tower-max-routes", "5"],
      "--tower-max-routes applies to the embedded Tower only",
    );
  });

  it("takes declared routes with --tower-routes (gatehouse tower --routes), capped by their own flag", () => {
    const c = ingress([...ROUTE, "--tower-routes", "--tower-max-routes", "50"]);
    assert.equal(c.towerSecurity.routes, true);
    assert.equal(c.towerSecurity.maxRoutes, 50);
    const t = parseCommandLine(["tower", "--routes", "--max-routes", "0"]);
    assert.ok(t.kind === "tower");
    assert.equal(t.tower.security.routes, true);
    assert.equal(t.tower.security.maxRoutes, 0);
    usage([...ROUTE, "--tower-max-routes", "x"], /^--tower-max-routes: "x"/);
    usage(["tower", "--max-routes", "2000000"], /^--max-routes: "2000000"/);
    usage(["tower", "--routes=yes"], /routes/);
  });
});
