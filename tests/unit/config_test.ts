/**
 * Flags to configuration (src/config.ts): the defaults, every flag, the
 * sub-commands, and the one-line UsageError a user sees for each mistake.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Command,
  type IngressConfig,
  parseCommandLine,
  parseCount,
  parseDuration,
  parseHostPort,
  TOWER_PORT,
  USAGE,
  UsageError,
} from "../../src/config.ts";

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
    const { routes, trustedProxies, towerAllow, ...rest } = c;
    assert.deepEqual(rest, {
      listen: { hostname: "0.0.0.0", port: 9090 },
      tower: { mode: "embedded", listen: { hostname: "127.0.0.1", port: 7772 } },
      workers: 10000,
      retries: 3,
      tls: null,
      lookupCacheMs: 0,
      towerSecurity: { secret: null, rate: null, maxEntries: 10000 },
      maxHeaderSize: 32768,
      headerTimeoutMs: 10_000,
      keepaliveTimeoutMs: 60_000,
      connectTimeoutMs: 3_000,
      upstreamReceiveBuffer: 131072,
      upstreamReceiveBufferGiven: false,
      upstreamTimeoutMs: 60_000,
      idleTimeoutMs: 30_000,
      graceMs: 10_000,
      poolSize: 1024,
      poolIdleTimeoutMs: 4_000,
      accessLog: false,
    });
    assert.deepEqual(routes.map((r) => r.source), ["/:web"]);
    assert.equal(trustedProxies.empty, true);
    assert.equal(towerAllow.empty, true);
  });

  it("uses the seed's Tower port", () => {
    assert.equal(TOWER_PORT, 7772);
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
    assert.deepEqual(c.listen, { hostname: "0.0.0.0", port: 8080 });
    assert.deepEqual(c.tower, { mode: "remote", address: { hostname: "10.0.0.5", port: 7772 } });
    assert.deepEqual(c.routes.map((r) => [r.prefix, r.service]), [
      ["/api", "api-service"],
      ["/", "frontend"],
    ]);
    assert.equal(c.workers, 64);
  });

  it("accepts --tls-cert and --tls-key together", () => {
    const c = ingress([...ROUTE, "--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
    assert.deepEqual(c.tls, { certPath: "cert.pem", keyPath: "key.pem" });
  });

  it("accepts the --flag=value form", () => {
    const c = ingress(["--route=/:web", "--listen=127.0.0.1:81"]);
    assert.deepEqual(c.listen, { hostname: "127.0.0.1", port: 81 });
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
    ]);
    assert.deepEqual(c.listen, { hostname: "::1", port: 8443 });
    assert.deepEqual(c.tower, { mode: "embedded", listen: { hostname: "0.0.0.0", port: 7000 } });
    assert.equal(c.retries, 5);
    assert.equal(c.maxHeaderSize, 8192);
    assert.equal(c.headerTimeoutMs, 2000);
    assert.equal(c.keepaliveTimeoutMs, 90_000);
    assert.equal(c.connectTimeoutMs, 250);
    assert.equal(c.upstreamTimeoutMs, 120_000);
    assert.equal(c.idleTimeoutMs, 3_600_000);
    assert.equal(c.graceMs, 1500);
    assert.equal(c.poolSize, 0);
    assert.equal(c.poolIdleTimeoutMs, 500);
    assert.equal(c.upstreamReceiveBuffer, 65536);
    assert.equal(c.upstreamReceiveBufferGiven, true);
    assert.equal(c.trustedProxies.contains("10.1.2.3"), true);
    assert.equal(c.trustedProxies.contains("::1"), true);
    assert.equal(c.trustedProxies.contains("192.168.0.1"), false);
    assert.equal(c.accessLog, true);
  });

  it("takes a remote Tower with a port or as [IPv6]", () => {
    assert.deepEqual(ingress([...ROUTE, "--tower", "tower.internal:9999"]).tower, {
      mode: "remote",
      address: { hostname: "tower.internal", port: 9999 },
    });
    assert.deepEqual(ingress([...ROUTE, "--tower", "[fd00::1]"]).tower, {
      mode: "remote",
      address: { hostname: "fd00::1", port: 7772 },
    });
  });

  it("takes an embedded Tower host without a port", () => {
    assert.deepEqual(ingress([...ROUTE, "--tower-listen", "0.0.0.0"]).tower, {
      mode: "embedded",
      listen: { hostname: "0.0.0.0", port: 7772 },
    });
  });

  it("accepts the bounds of the counted flags", () => {
    assert.equal(ingress([...ROUTE, "--workers", "1"]).workers, 1);
    assert.equal(ingress([...ROUTE, "--workers", "1000000"]).workers, 1_000_000);
    assert.equal(ingress([...ROUTE, "--retries", "100"]).retries, 100);
    assert.equal(ingress([...ROUTE, "--max-header-size", "1024"]).maxHeaderSize, 1024);
    assert.equal(ingress([...ROUTE, "--max-header-size", "1048576"]).maxHeaderSize, 1048576);
    assert.equal(ingress([...ROUTE, "--pool-size", "100000"]).poolSize, 100_000);
  });
});

describe("parseCommandLine: commands", () => {
  it("answers help and version", () => {
    assert.deepEqual(parseCommandLine(["--help"]), { kind: "help" });
    assert.deepEqual(parseCommandLine(["-h"]), { kind: "help" });
    assert.deepEqual(parseCommandLine(["--version"]), { kind: "version" });
    // Help wins even when nothing else is valid yet.
    assert.deepEqual(parseCommandLine(["--listen", "99999", "--help"]), { kind: "help" });
  });

  it("runs a standalone Tower", () => {
    const tower = (args: string[]) => {
      const cmd = parseCommandLine(["tower", ...args]);
      if (cmd.kind !== "tower") assert.fail(`got ${cmd.kind}`);
      return cmd;
    };
    assert.deepEqual(tower([]).listen, { hostname: "127.0.0.1", port: 7772 });
    assert.equal(tower([]).allow.empty, true);
    assert.deepEqual(tower(["--listen", "0.0.0.0:7773"]).listen, {
      hostname: "0.0.0.0",
      port: 7773,
    });
    assert.deepEqual(tower(["--listen", "7774"]).listen, { hostname: "127.0.0.1", port: 7774 });
    assert.deepEqual(tower(["--listen", "0.0.0.0"]).listen, { hostname: "0.0.0.0", port: 7772 });
    assert.deepEqual(parseCommandLine(["tower", "--help"]), { kind: "help" });
  });

  it("takes a standalone Tower's registration allowlist", () => {
    const cmd = parseCommandLine(["tower", "--allow", "10.0.0.0/8,::1"]);
    if (cmd.kind !== "tower") assert.fail(`got ${cmd.kind}`);
    assert.equal(cmd.allow.contains("10.2.3.4"), true);
    assert.equal(cmd.allow.contains("::1"), true);
    assert.equal(cmd.allow.contains("192.0.2.1"), false);
    usage(
      ["tower", "--allow", "10.0.0.0/99"],
      '--allow: invalid CIDR "10.0.0.0/99": prefix length must be 0-32',
    );
  });

  it("takes the embedded Tower's registration allowlist", () => {
    const c = ingress([...ROUTE, "--tower-allow", "127.0.0.0/8"]);
    assert.equal(c.towerAllow.contains("127.0.0.1"), true);
    assert.equal(c.towerAllow.contains("10.0.0.1"), false);
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
    assert.deepEqual(cmd.config.listen, { hostname: "0.0.0.0", port: 8080 });
    assert.deepEqual(cmd.config.routes.map((r) => [r.prefix, r.service]), [["/", "frontend"]]);
    assert.deepEqual(parseCommandLine(["demo", "--help"]), { kind: "help" });
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
        "--idle-timeout",
        "--grace",
        "--pool-size",
        "--pool-idle-timeout",
        "--trusted-proxies",
        "--tower-allow",
        "--access-log",
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
    usage([...ROUTE, "--listen", "99999"], '--listen: "99999" is not a port (0-65535)');
    usage([...ROUTE, "--listen", "65536"], '--listen: "65536" is not a port (0-65535)');
    usage([...ROUTE, "--listen", "a:b"], '--listen: "b" is not a port (0-65535)');
    usage([...ROUTE, "--listen", "localhost"], '--listen: "localhost" needs a port');
    usage([...ROUTE, "--listen", "::1"], '--listen: "::1" is ambiguous; write IPv6 as [ADDR]:PORT');
    usage([...ROUTE, "--listen", "a b:80"], '--listen: "a b:80" is not HOST:PORT');
    usage([...ROUTE, "--listen", ""], '--listen: "" is not HOST:PORT');
    usage([...ROUTE, "--tower", "h:-1"], '--tower: "-1" is not a port (0-65535)');
    usage([...ROUTE, "--tower-listen", "h:x"], '--tower-listen: "x" is not a port (0-65535)');
    usage(["tower", "--listen", "1.2.3.4:70000"], '--listen: "70000" is not a port (0-65535)');
  });

  it("refuses a remote Tower on port 0", () => {
    usage([...ROUTE, "--tower", "h:0"], "--tower: port 0 is not a Tower address");
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

  it("refuses a duration no timer can hold instead of firing it at once", () => {
    // setTimeout fires after ~1 ms for delays above 2^31-1 ms (about 24.8 days),
    // so a huge --connect-timeout would fail every connect immediately.
    for (const flag of ["--connect-timeout", "--idle-timeout", "--grace"]) {
      let value: number | undefined;
      try {
        const c = ingress([...ROUTE, flag, "1000h"]);
        value = flag === "--connect-timeout"
          ? c.connectTimeoutMs
          : flag === "--idle-timeout"
          ? c.idleTimeoutMs
          : c.graceMs;
      } catch (e) {
        assert.ok(e instanceof UsageError, `${flag}: ${e}`);
        continue; // refusing it is the fix
      }
      assert.ok(value <= 2 ** 31 - 1, `${flag} 1000h became ${value} ms, beyond a timer's range`);
    }
  });
});

describe("parseDuration", () => {
  it("reads every unit, bare seconds and fractions", () => {
    assert.equal(parseDuration("--x", "500ms"), 500);
    assert.equal(parseDuration("--x", "10s"), 10_000);
    assert.equal(parseDuration("--x", "2m"), 120_000);
    assert.equal(parseDuration("--x", "1h"), 3_600_000);
    assert.equal(parseDuration("--x", "7"), 7_000);
    assert.equal(parseDuration("--x", "0.25s"), 250);
    assert.equal(parseDuration("--x", "1.5"), 1_500);
    assert.equal(parseDuration("--x", "0"), 0);
    assert.equal(parseDuration("--x", " 3s "), 3_000);
  });

  it("rounds to whole milliseconds", () => {
    assert.equal(parseDuration("--x", "1.6ms"), 2);
    assert.equal(parseDuration("--x", "0.0004s"), 0);
  });

  it("throws a UsageError naming the flag", () => {
    assert.throws(() => parseDuration("--grace", "5 minutes"), {
      name: "UsageError",
      message: '--grace: "5 minutes" is not a duration (like 500ms, 10s, 2m)',
    });
    for (const bad of ["", "ms", ".5s", "5.s", "5S", "5sec", "+5s", "5ms5"]) {
      assert.throws(() => parseDuration("--x", bad), UsageError, bad);
    }
  });
});

describe("parseCount", () => {
  it("accepts whole numbers within bounds", () => {
    assert.equal(parseCount("--n", "5", 1, 10), 5);
    assert.equal(parseCount("--n", "1", 1, 10), 1);
    assert.equal(parseCount("--n", "10", 1, 10), 10);
    assert.equal(parseCount("--n", "007", 1, 10), 7);
  });

  it("refuses numbers outside bounds and non-numbers", () => {
    for (const bad of ["0", "11", "-1", "1.0", "0x5", "", "five", "1e1"]) {
      assert.throws(() => parseCount("--n", bad, 1, 10), {
        name: "UsageError",
        message: `--n: "${bad}" must be a whole number from 1 to 10`,
      }, bad);
    }
  });
});

describe("parseHostPort", () => {
  it("reads PORT, HOST:PORT and [IPv6]:PORT", () => {
    assert.deepEqual(parseHostPort("--l", "9090", "0.0.0.0"), { hostname: "0.0.0.0", port: 9090 });
    assert.deepEqual(parseHostPort("--l", "127.0.0.1:80", "0.0.0.0"), {
      hostname: "127.0.0.1",
      port: 80,
    });
    assert.deepEqual(parseHostPort("--l", "[::]:8080", "0.0.0.0"), { hostname: "::", port: 8080 });
    assert.deepEqual(parseHostPort("--l", "my-host.local:1", "x"), {
      hostname: "my-host.local",
      port: 1,
    });
  });

  it("uses the default port for a bare host when there is one", () => {
    assert.deepEqual(parseHostPort("--t", "tower", "", 7772), { hostname: "tower", port: 7772 });
    assert.deepEqual(parseHostPort("--t", "[::1]", "", 7772), { hostname: "::1", port: 7772 });
    assert.throws(() => parseHostPort("--l", "[::1]", "0.0.0.0"), {
      message: '--l: "[::1]" needs a port',
    });
  });

  it("accepts ports 0 and 65535 and refuses 65536", () => {
    assert.equal(parseHostPort("--l", "0", "h").port, 0);
    assert.equal(parseHostPort("--l", "h:65535", "h").port, 65535);
    assert.throws(() => parseHostPort("--l", "h:65536", "h"), {
      message: '--l: "65536" is not a port (0-65535)',
    });
    assert.throws(() => parseHostPort("--l", "h:", "h"), {
      message: '--l: "" is not a port (0-65535)',
    });
  });
});

describe("parseCommandLine: registries", () => {
  it("takes --registry tower:// as a remote Tower and dns:// / etcd:// as registries", () => {
    assert.deepEqual(ingress([...ROUTE, "--registry", "tower://10.0.0.2"]).tower, {
      mode: "remote",
      address: { hostname: "10.0.0.2", port: 7772 },
    });
    const etcd = ingress([...ROUTE, "--registry", "etcd://127.0.0.1:2379,127.0.0.2/prod"]).tower;
    assert.equal(etcd.mode, "registry");
    assert.ok(etcd.mode === "registry" && etcd.registry.kind === "etcd");
    assert.deepEqual(etcd.registry.endpoints, ["http://127.0.0.1:2379", "http://127.0.0.2:2379"]);
    assert.equal(etcd.registry.prefix, "/prod");
    const dns = ingress([...ROUTE, "--registry", "dns://127.0.0.1:5353"]).tower;
    assert.ok(dns.mode === "registry" && dns.registry.kind === "dns");
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
    assert.deepEqual(t.security, { secret: "s", rate: { perSecond: 5, burst: 10 }, maxEntries: 7 });
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
  });
});
