/**
 * The address rules every part of Gatehouse reads addresses with: flags,
 * registry URLs, Tower datagrams, etcd values.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AddressError,
  formatHostPort,
  isIP,
  isIPv4,
  isIPv6,
  isValidAuthority,
  isValidHost,
  isValidPort,
  isValidServiceName,
  isWildcard,
  parseAddress,
  parsePort,
  readHostPort,
} from "../../src/net/address.ts";

describe("address rules", () => {
  it("service names: 1-63 of [A-Za-z0-9._-]", () => {
    for (const ok of ["a", "api-service", "web.v2_beta", "A".repeat(63), "0"]) {
      assert.equal(isValidServiceName(ok), true, ok);
    }
    for (const bad of ["", "A".repeat(64), "a|b", "a b", "a:b", "a,b", "ü", "a\n", "a/b"]) {
      assert.equal(isValidServiceName(bad), false, JSON.stringify(bad));
    }
  });

  it("IPv4 literals", () => {
    for (const ok of ["0.0.0.0", "127.0.0.1", "255.255.255.255", "10.0.0.7"]) {
      assert.equal(isIPv4(ok), true, ok);
    }
    for (const bad of ["256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.-1", " 1.2.3.4"]) {
      assert.equal(isIPv4(bad), false, bad);
    }
  });

  it("IPv6 literals", () => {
    for (
      const ok of [
        "::",
        "::1",
        "fe80::1",
        "2001:db8::8a2e:370:7334",
        "1:2:3:4:5:6:7:8",
        "1::",
        "1:2:3:4:5:6:7::",
        "::ffff:10.0.0.1",
        "64:ff9b::192.0.2.33",
      ]
    ) {
      assert.equal(isIPv6(ok), true, ok);
    }
    for (
      const bad of [
        ":::",
        "1::2::3",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8::",
        "fe80::1%eth0",
        "12345::",
        "[::1]",
        ":1::",
        "::1.2.3.4.5",
        "g::1",
      ]
    ) {
      assert.equal(isIPv6(bad), false, bad);
    }
    assert.equal(isIP("::1"), true);
    assert.equal(isIP("10.0.0.1"), true);
    assert.equal(isIP("localhost"), false);
  });

  it("hosts: IP literals or host names, never a broken IPv4", () => {
    for (const ok of ["10.0.0.7", "::1", "localhost", "web-1.internal", "a.b-c.d9"]) {
      assert.equal(isValidHost(ok), true, ok);
    }
    for (
      const bad of ["", "10.0.0.256", "1.2.3", "-web", "web-", "a..b", "web_1", "a b", "host."]
    ) {
      assert.equal(isValidHost(bad), false, JSON.stringify(bad));
    }
  });

  it("wildcards: every interface, v4 or v6", () => {
    for (const w of ["0.0.0.0", "::", "0::0", "0:0:0:0:0:0:0:0"]) {
      assert.equal(isWildcard(w), true, w);
    }
    for (const h of ["127.0.0.1", "::1", "0.0.0.1", "host"]) assert.equal(isWildcard(h), false, h);
  });

  it("ports: 1-65535, digits only, no leading zero; 0 only when asked for", () => {
    assert.equal(parsePort("1"), 1);
    assert.equal(parsePort("8080"), 8080);
    assert.equal(parsePort("65535"), 65535);
    assert.equal(parsePort("0", { zero: true }), 0);
    assert.equal(parsePort("65535", { zero: true }), 65535);
    for (const bad of ["0", "65536", "080", "+80", " 80", "80 ", "80a", "", "8e3", "0x50", "-1"]) {
      assert.equal(parsePort(bad), undefined, JSON.stringify(bad));
    }
    for (const bad of ["00", "99999", "65536", "-0"]) {
      assert.equal(parsePort(bad, { zero: true }), undefined, JSON.stringify(bad));
    }
  });

  it("port numbers: whole numbers 1-65535", () => {
    for (const ok of [1, 80, 8081, 65535]) assert.equal(isValidPort(ok), true, String(ok));
    for (const bad of [0, -1, 65536, 80.5, NaN, Infinity]) {
      assert.equal(isValidPort(bad), false, String(bad));
    }
  });

  it("host:port with IPv6 in brackets, both ways", () => {
    assert.equal(formatHostPort("10.0.0.7", 80), "10.0.0.7:80");
    assert.equal(formatHostPort("::1", 8080), "[::1]:8080");
    assert.deepEqual(readHostPort("[::1]:8080"), { host: "::1", port: 8080 });
    assert.deepEqual(readHostPort("web-1.internal:81"), { host: "web-1.internal", port: 81 });
    for (const bad of ["::1:8080", "[::1]", "10.0.0.7", "10.0.0.7:0", "[x]:1", "a:b:1", ":80"]) {
      assert.equal(readHostPort(bad), undefined, bad);
    }
  });
});

describe("isValidAuthority: one host[:port], as a request's Host names it", () => {
  it("accepts names, IPv4, bracketed IPv6, each with or without a port", () => {
    for (
      const ok of [
        "x",
        "localhost",
        "localhost:9090",
        "Shop.Example.COM",
        "shop.example.com.",
        "shop.example.com.:443",
        "_service._tcp.example",
        "web-1.internal",
        "a-.b_",
        "127.0.0.1",
        "127.0.0.1:9090",
        "[::1]",
        "[::1]:65535",
        "[2001:db8::7]:1",
        "[::ffff:10.0.0.1]:80",
        "a".repeat(63) + ".example",
        // 253 characters, the longest name
        ["a", "b", "c"].map((c) => c.repeat(63)).join(".") + "." + "d".repeat(61),
      ]
    ) assert.equal(isValidAuthority(ok), true, JSON.stringify(ok));
  });

  it("refuses lists, paths, userinfo, spaces, bad ports and bad brackets", () => {
    for (
      const bad of [
        "",
        "a.com,b.com",
        "a.com, b.com",
        "a.com/x",
        "a.com?x",
        "a.com#x",
        "user@a.com",
        "user:pw@a.com",
        "a .com",
        " a.com",
        "a.com ",
        "a.com:",
        "a.com:0",
        "a.com:080",
        "a.com:65536",
        "a.com:99999",
        "a.com:8o",
        "a.com:80:80",
        ":80",
        "[a.com]",
        "[a.com]:80",
        "[::1",
        "[::1]x",
        "[::1]:",
        "[v1.fe]",
        "[fe80::1%25eth0]",
        "::1",
        "::1:80",
        "a..b",
        ".a",
        "..",
        ".",
        "a%2ecom",
        "a;b",
        "a=b",
        "a!b",
        "a~b",
        "caf\u00e9.example",
        "a".repeat(64) + ".example",
        ["a", "b", "c"].map((c) => c.repeat(63)).join(".") + "." + "d".repeat(62),
      ]
    ) assert.equal(isValidAuthority(bad), false, JSON.stringify(bad));
  });

  it("takes an all-digit last label for IPv4, never for a name", () => {
    for (const bad of ["10.0.0.256", "1.2.3", "1.2.3.4.5", "01.2.3.4", "123", "a.1", "1.2.3.4."]) {
      assert.equal(isValidAuthority(bad), false, bad);
      assert.equal(isValidAuthority(bad + ":80"), false, bad + ":80");
    }
    assert.equal(isValidAuthority("1.2.3.a"), true);
    assert.equal(isValidAuthority("0.0.0.0:1"), true);
  });
});

describe("parseAddress", () => {
  const why = (text: string, rules = {}) => {
    try {
      parseAddress(text, rules);
    } catch (e) {
      assert.ok(e instanceof AddressError);
      return e.message;
    }
    return "accepted";
  };

  it("reads HOST:PORT and [IPv6]:PORT by default, and says what is wrong otherwise", () => {
    assert.deepEqual(parseAddress("127.0.0.1:80"), { host: "127.0.0.1", port: 80 });
    assert.deepEqual(parseAddress("[::]:8080"), { host: "::", port: 8080 });
    assert.deepEqual(parseAddress("my-host.local:1"), { host: "my-host.local", port: 1 });
    assert.equal(why("host"), "needs a port (HOST:PORT)");
    assert.equal(why("h:65536"), "port must be 1-65535");
    assert.equal(why("h:"), "port must be 1-65535");
    assert.equal(why("h:0"), "port must be 1-65535");
    assert.equal(why("::1:80"), "write IPv6 as [ADDR]:PORT");
    assert.equal(why("[::1"), "missing ] after the IPv6 address");
    assert.equal(why("[::1]x"), "unexpected text after ]");
    assert.equal(why("[web]:1"), '"web" is not an IPv6 address');
    assert.equal(why(":80"), "empty host");
    assert.equal(why("a b:80"), '"a b" is not an IP address or host name');
    assert.equal(why("10.0.0.256:80"), '"10.0.0.256" is not an IP address or host name');
  });

  it("a bare PORT takes the default host; port 0 only with zeroPort", () => {
    const listen = { defaultHost: "0.0.0.0", zeroPort: true };
    assert.deepEqual(parseAddress("9090", listen), { host: "0.0.0.0", port: 9090 });
    assert.deepEqual(parseAddress("0", listen), { host: "0.0.0.0", port: 0 });
    assert.deepEqual(parseAddress("h:65535", listen), { host: "h", port: 65535 });
    assert.equal(why("99999", listen), "port must be 0-65535");
    assert.equal(why("9090"), '"9090" is not an IP address or host name');
  });

  it("a default port makes the port optional; bare IPv6 only when asked for", () => {
    const tower = { defaultPort: 7772, bareIPv6: true };
    assert.deepEqual(parseAddress("tower", tower), { host: "tower", port: 7772 });
    assert.deepEqual(parseAddress("[::1]", tower), { host: "::1", port: 7772 });
    assert.deepEqual(parseAddress("fe80::2", tower), { host: "fe80::2", port: 7772 });
    assert.deepEqual(parseAddress("10.0.0.2:9000", tower), { host: "10.0.0.2", port: 9000 });
    assert.equal(why("fe80::2", { defaultPort: 7772 }), "write IPv6 as [ADDR]:PORT");
    assert.equal(why("fe80::zz", tower), "write IPv6 as [ADDR]:PORT");
  });

  it("ipOnly refuses names", () => {
    assert.deepEqual(parseAddress("10.0.0.1:53", { ipOnly: true }), { host: "10.0.0.1", port: 53 });
    assert.equal(why("dns.local:53", { ipOnly: true }), '"dns.local" is not an IP address');
  });
});
