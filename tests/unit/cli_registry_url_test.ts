/**
 * `--registry` URLs (src/cli/registry_url.ts): tower://, etcd:// and dns://
 * read into what each registry takes, and a message naming the mistake.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  parseDnsRegistryUrl,
  parseEtcdUrl,
  parseRegistryUrl,
  parseTowerAddress,
} from "../../src/cli/registry_url.ts";
import { replicaKey } from "../../src/registry/etcd/keys.ts";

describe("parseRegistryUrl", () => {
  it("dispatches on the scheme", () => {
    assert.deepEqual(parseRegistryUrl("tower://10.0.0.2"), {
      kind: "tower",
      address: { host: "10.0.0.2", port: 7772 },
    });
    assert.deepEqual(parseRegistryUrl("tower://[::1]:7773/"), {
      kind: "tower",
      address: { host: "::1", port: 7773 },
    });
    assert.deepEqual(parseRegistryUrl("etcd://h/p"), {
      kind: "etcd",
      url: "etcd://h/p",
      endpoints: ["http://h:2379"],
      prefix: "/p",
    });
    assert.deepEqual(parseRegistryUrl("dns://10.0.0.2"), {
      kind: "dns",
      url: "dns://10.0.0.2",
      options: { servers: ["10.0.0.2:53"] },
    });
    assert.throws(() => parseRegistryUrl("zk://h"), /"zk:\/\/h" is not a registry URL/);
  });
});

describe("parseTowerAddress", () => {
  it("reads HOST[:PORT] with a 7772 default", () => {
    assert.deepEqual(parseTowerAddress("10.0.0.2"), { host: "10.0.0.2", port: 7772 });
    assert.deepEqual(parseTowerAddress("10.0.0.2:9000"), { host: "10.0.0.2", port: 9000 });
    assert.deepEqual(parseTowerAddress("tower.internal"), { host: "tower.internal", port: 7772 });
    assert.deepEqual(parseTowerAddress("localhost:1"), { host: "localhost", port: 1 });
    assert.deepEqual(parseTowerAddress("[::1]:7773"), { host: "::1", port: 7773 });
    assert.deepEqual(parseTowerAddress("[::1]"), { host: "::1", port: 7772 });
    assert.deepEqual(parseTowerAddress("fe80::1"), { host: "fe80::1", port: 7772 });
  });

  it("says what is wrong", () => {
    for (
      const bad of ["", ":7772", "host:", "host:0", "host:x", "[::1", "[::1]x", "[nope]:1", "a b"]
    ) {
      assert.throws(
        () => parseTowerAddress(bad),
        (err: Error) => err.message.includes(`"${bad}"`),
        JSON.stringify(bad),
      );
    }
  });
});

describe("etcd URL", () => {
  it("reads members, default port and prefix", () => {
    assert.deepEqual(parseEtcdUrl("etcd://10.0.0.1,10.0.0.2:2380,[::1]:23/prod/"), {
      endpoints: ["http://10.0.0.1:2379", "http://10.0.0.2:2380", "http://[::1]:23"],
      prefix: "/prod",
    });
    assert.deepEqual(parseEtcdUrl("etcd://etcd.internal"), {
      endpoints: ["http://etcd.internal:2379"],
      prefix: "/gatehouse",
    });
    assert.equal(
      replicaKey("/gatehouse", "api", { host: "::1", port: 80 }),
      "/gatehouse/api/[::1]:80",
    );
  });

  it("names the mistake", () => {
    assert.throws(() => parseEtcdUrl("http://x"), /must start with etcd:\/\//);
    assert.throws(() => parseEtcdUrl("etcd:///p"), /no hosts/);
    assert.throws(() => parseEtcdUrl("etcd://a,,b"), /empty host/);
    assert.throws(() => parseEtcdUrl("etcd://a:99999"), /"a:99999": port must be 1-65535/);
    assert.throws(() => parseEtcdUrl("etcd://a b"), /"a b" is not an IP address or host name/);
    assert.throws(() => parseEtcdUrl("etcd://::1"), /IPv6/);
  });
});

describe("parseDnsRegistryUrl", () => {
  it("reads server, template, timeout and grace", () => {
    assert.deepEqual(
      parseDnsRegistryUrl(
        "dns://127.0.0.1:5353?name=_http._tcp.{service}.svc.local&timeout=2s&grace=60s",
      ),
      {
        servers: ["127.0.0.1:5353"],
        nameTemplate: "_http._tcp.{service}.svc.local",
        timeoutMs: 2000,
        graceMs: 60000,
      },
    );
  });

  it("defaults the port to 53 and accepts IPv6 in brackets", () => {
    assert.deepEqual(parseDnsRegistryUrl("dns://10.0.0.2"), { servers: ["10.0.0.2:53"] });
    assert.deepEqual(parseDnsRegistryUrl("dns://10.0.0.2/"), { servers: ["10.0.0.2:53"] });
    assert.deepEqual(parseDnsRegistryUrl("dns://[::1]:5353"), { servers: ["[::1]:5353"] });
    assert.deepEqual(parseDnsRegistryUrl("dns://[fd00::53]"), { servers: ["[fd00::53]:53"] });
  });

  it("uses the system resolvers when no server is given", () => {
    assert.deepEqual(parseDnsRegistryUrl("dns://"), {});
    assert.deepEqual(parseDnsRegistryUrl("dns://?grace=0"), { graceMs: 0 });
  });

  it("reads the other parameters and duration units", () => {
    assert.deepEqual(
      parseDnsRegistryUrl(
        "dns://127.0.0.1?refresh=1.5s&min-ttl=250ms&idle=10m&family=4&timeout=500ms",
      ),
      {
        servers: ["127.0.0.1:53"],
        refreshMs: 1500,
        minTtlMs: 250,
        idleMs: 600000,
        family: 4,
        timeoutMs: 500,
      },
    );
    assert.equal(parseDnsRegistryUrl("dns://?family=6").family, 6);
    assert.equal(parseDnsRegistryUrl("dns://?family=any").family, 0);
    assert.equal(parseDnsRegistryUrl("dns://?timeout=3").timeoutMs, 3000);
    assert.equal(parseDnsRegistryUrl("dns://?grace=1h").graceMs, 3_600_000);
  });

  it("decodes a percent-encoded template", () => {
    assert.equal(
      parseDnsRegistryUrl("dns://127.0.0.1?name=_grpc._tcp.%7Bservice%7D.prod").nameTemplate,
      "_grpc._tcp.{service}.prod",
    );
  });

  const bad: [string, RegExp][] = [
    ["http://127.0.0.1:5353", /scheme must be dns:\/\//],
    ["127.0.0.1:5353", /scheme must be dns:\/\//],
    ["dns://ns.example.com:53", /"ns.example.com" is not an IP address/],
    ["dns://127.0.0.1:0", /port must be 1-65535/],
    ["dns://127.0.0.1:70000", /port must be 1-65535/],
    ["dns://127.0.0.1:", /port must be 1-65535/],
    ["dns://::1", /write IPv6 as \[ADDR\]:PORT/],
    ["dns://[::1", /missing \]/],
    ["dns://[::1]x", /unexpected text after \]/],
    ["dns://[10.0.0.1]:53", /not an IPv6 address/],
    ["dns://127.0.0.1/zone", /no path/],
    ["dns://user@127.0.0.1", /no user info/],
    ["dns://127.0.0.1#x", /fragment/],
    ["dns://127.0.0.1?nmae=x", /unknown parameter "nmae" \(known: name, timeout/],
    ["dns://127.0.0.1?timeout=1s&timeout=2s", /"timeout" given twice/],
    ["dns://127.0.0.1?timeout=fast", /timeout: "fast" is not a duration/],
    ["dns://127.0.0.1?timeout=0", /timeout must be at least 1 ms/],
    ["dns://127.0.0.1?grace=-1s", /grace: "-1s" is not a duration/],
    ["dns://127.0.0.1?name=_http._tcp.web.svc.local", /does not contain \{service\}/],
    ["dns://127.0.0.1?name=_http.._tcp.{service}", /empty label/],
    ["dns://127.0.0.1?name={service}.a b", /bad label "a b"/],
    ["dns://127.0.0.1?family=5", /family: "5" is not 4, 6 or any/],
    // The one duration parser caps what a timer can hold: 600h would overflow into a tight loop.
    ["dns://127.0.0.1?refresh=600h", /refresh: "600h" is longer than 24 days/],
  ];
  for (const [text, why] of bad) {
    it(`rejects ${text}`, () => {
      assert.throws(() => parseDnsRegistryUrl(text), (e: Error) => {
        assert.match(e.message, /^invalid DNS registry "/);
        assert.match(e.message, why);
        return true;
      });
    });
  }
});
