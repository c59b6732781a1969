/**
 * CIDR lists (src/net/cidr.ts) for --trusted-proxies and the Tower allowlist:
 * IPv4, IPv6, IPv4-mapped IPv6, and clear errors for bad entries.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CidrList, parseIp } from "../../src/net/cidr.ts";

function ip(text: string): number[] {
  const b = parseIp(text);
  if (b === null) assert.fail(`${text} did not parse`);
  return [...b];
}

const V4_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

describe("parseIp: IPv4", () => {
  it("maps IPv4 into ::ffff:0:0/96", () => {
    assert.deepEqual(ip("127.0.0.1"), [...V4_PREFIX, 127, 0, 0, 1]);
    assert.deepEqual(ip("0.0.0.0"), [...V4_PREFIX, 0, 0, 0, 0]);
    assert.deepEqual(ip("255.255.255.255"), [...V4_PREFIX, 255, 255, 255, 255]);
  });

  it("refuses malformed IPv4", () => {
    for (
      const bad of [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.256",
        "01.2.3.4",
        "1.2.3.04",
        "1..3.4",
        "1.2.3.",
        "-1.2.3.4",
        "+1.2.3.4",
        "1.2.3.4 ",
        " 1.2.3.4",
        "0x7f.0.0.1",
        "1000.1.1.1",
        "a.b.c.d",
        "localhost",
      ]
    ) {
      assert.equal(parseIp(bad), null, JSON.stringify(bad));
    }
  });
});

describe("parseIp: IPv6", () => {
  it("parses full and compressed forms", () => {
    assert.deepEqual(ip("::1"), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(ip("::"), new Array(16).fill(0));
    assert.deepEqual(
      ip("2001:db8::8a2e:370:7334"),
      [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0x8a, 0x2e, 0x03, 0x70, 0x73, 0x34],
    );
    assert.deepEqual(ip("2001:0db8:0000:0000:0000:8a2e:0370:7334"), ip("2001:db8::8a2e:370:7334"));
    assert.deepEqual(ip("1:2:3:4:5:6:7::"), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]);
    assert.deepEqual(ip("::2:3:4:5:6:7:8"), [0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
    assert.deepEqual(ip("fe80::"), [0xfe, 0x80, ...new Array(14).fill(0)]);
  });

  it("ignores hex case, brackets and a zone", () => {
    assert.deepEqual(ip("FE80::ABCD"), ip("fe80::abcd"));
    assert.deepEqual(ip("[::1]"), ip("::1"));
    assert.deepEqual(ip("fe80::1%eth0"), ip("fe80::1"));
    assert.deepEqual(ip("[fe80::1%25eth0]"), ip("fe80::1"));
  });

  it("parses an embedded IPv4 tail", () => {
    assert.deepEqual(ip("::ffff:127.0.0.1"), ip("127.0.0.1"));
    assert.deepEqual(ip("::FFFF:10.1.2.3"), ip("10.1.2.3"));
    assert.deepEqual(ip("::1.2.3.4"), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    assert.deepEqual(ip("64:ff9b::192.0.2.33"), [
      0,
      0x64,
      0xff,
      0x9b,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      192,
      0,
      2,
      33,
    ]);
    assert.deepEqual(ip("1:2:3:4:5:6:1.2.3.4"), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4]);
  });

  it("refuses malformed IPv6", () => {
    for (
      const bad of [
        ":",
        ":::",
        "1::2::3",
        "::1::",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8",
        ":1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:",
        "12345::",
        "g::1",
        "::ffff:1.2.3",
        "::ffff:256.0.0.1",
        "1.2.3.4::",
        "::1.2.3.4:5",
        "1:2:3:4:5:6:7:1.2.3.4",
        "[::1",
        "::1]",
      ]
    ) {
      assert.equal(parseIp(bad), null, JSON.stringify(bad));
    }
  });
});

describe("CidrList.parse", () => {
  it("keeps the source text", () => {
    assert.equal(CidrList.parse("10.0.0.0/8, ::1").source, "10.0.0.0/8, ::1");
  });

  it("is empty for an empty list and then contains nothing", () => {
    for (const text of ["", " ", ",", " , ,"]) {
      const list = CidrList.parse(text);
      assert.equal(list.empty, true, JSON.stringify(text));
      assert.equal(list.contains("127.0.0.1"), false);
      assert.equal(list.contains("::1"), false);
    }
  });

  it("names the bad entry when it is not an IP address", () => {
    assert.throws(() => CidrList.parse("10.0.0.0/8,bogus/8"), {
      message: 'invalid CIDR "bogus/8": not an IP address',
    });
    assert.throws(() => CidrList.parse("localhost"), {
      message: 'invalid CIDR "localhost": not an IP address',
    });
    assert.throws(() => CidrList.parse("10.0.0/8"), {
      message: 'invalid CIDR "10.0.0/8": not an IP address',
    });
  });

  it("names the bad entry when its prefix length is out of range", () => {
    for (const entry of ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8", "1.2.3.4/a"]) {
      assert.throws(() => CidrList.parse(entry), {
        message: `invalid CIDR "${entry}": prefix length must be 0-32`,
      }, entry);
    }
    for (const entry of ["::1/129", "::/1280", "::/x"]) {
      assert.throws(() => CidrList.parse(entry), {
        message: `invalid CIDR "${entry}": prefix length must be 0-128`,
      }, entry);
    }
  });

  it("trims entries around commas", () => {
    const list = CidrList.parse(" 10.0.0.0/8 ,\t192.168.0.0/16 ");
    assert.equal(list.contains("10.9.9.9"), true);
    assert.equal(list.contains("192.168.4.4"), true);
  });
});

describe("CidrList.contains", () => {
  it("matches IPv4 networks at their boundaries", () => {
    const list = CidrList.parse("10.0.0.0/8,192.168.1.0/24,172.16.0.0/12");
    const cases: Array<[string, boolean]> = [
      ["10.0.0.0", true],
      ["10.255.255.255", true],
      ["11.0.0.0", false],
      ["9.255.255.255", false],
      ["192.168.1.0", true],
      ["192.168.1.255", true],
      ["192.168.2.0", false],
      ["192.168.0.255", false],
      ["172.16.0.1", true],
      ["172.31.255.255", true],
      ["172.32.0.0", false],
      ["172.15.255.255", false],
    ];
    for (const [addr, expected] of cases) assert.equal(list.contains(addr), expected, addr);
  });

  it("handles prefix lengths that are not byte aligned", () => {
    const list = CidrList.parse("100.64.0.0/10,203.0.113.128/25,198.51.100.7/31");
    const cases: Array<[string, boolean]> = [
      ["100.64.0.0", true],
      ["100.127.255.255", true],
      ["100.128.0.0", false],
      ["100.63.255.255", false],
      ["203.0.113.128", true],
      ["203.0.113.255", true],
      ["203.0.113.127", false],
      ["198.51.100.6", true],
      ["198.51.100.7", true],
      ["198.51.100.8", false],
      ["198.51.100.5", false],
    ];
    for (const [addr, expected] of cases) assert.equal(list.contains(addr), expected, addr);
  });

  it("treats a bare address as a single host", () => {
    const list = CidrList.parse("127.0.0.1,::1");
    assert.equal(list.contains("127.0.0.1"), true);
    assert.equal(list.contains("127.0.0.2"), false);
    assert.equal(list.contains("::1"), true);
    assert.equal(list.contains("::2"), false);
  });

  it("ignores host bits set in the network address", () => {
    const list = CidrList.parse("10.1.2.3/8");
    assert.equal(list.contains("10.200.0.1"), true);
    assert.equal(list.contains("11.1.2.3"), false);
  });

  it("matches IPv6 networks", () => {
    const list = CidrList.parse("2001:db8::/32,fe80::/10,::1/128");
    const cases: Array<[string, boolean]> = [
      ["2001:db8::1", true],
      ["2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true],
      ["2001:db9::", false],
      ["2001:db7:ffff::", false],
      ["fe80::1", true],
      ["febf:ffff::1", true],
      ["fec0::1", false],
      ["::1", true],
      ["[::1]", true],
      ["::", false],
      ["fe80::1%eth0", true],
    ];
    for (const [addr, expected] of cases) assert.equal(list.contains(addr), expected, addr);
  });

  it("keeps IPv4 and IPv6 networks apart", () => {
    const v4 = CidrList.parse("0.0.0.0/0");
    assert.equal(v4.contains("8.8.8.8"), true);
    assert.equal(v4.contains("::1"), false);
    assert.equal(v4.contains("2001:db8::1"), false);
    const v6 = CidrList.parse("::/1");
    assert.equal(v6.contains("::1"), true);
    assert.equal(v6.contains("8000::"), false);
  });

  it("matches IPv4 peers seen as IPv4-mapped IPv6 against IPv4 networks", () => {
    const list = CidrList.parse("127.0.0.0/8");
    assert.equal(list.contains("::ffff:127.0.0.1"), true);
    assert.equal(list.contains("::FFFF:127.255.0.9"), true);
    assert.equal(list.contains("::ffff:128.0.0.1"), false);
    // The IPv4-compatible (deprecated) form is a different address.
    assert.equal(list.contains("::127.0.0.1"), false);
  });

  it("matches IPv4 peers against an IPv4-mapped IPv6 network", () => {
    const list = CidrList.parse("::ffff:10.0.0.0/104");
    assert.equal(list.contains("10.1.2.3"), true);
    assert.equal(list.contains("11.1.2.3"), false);
    const all = CidrList.parse("::ffff:0:0/96");
    assert.equal(all.contains("1.2.3.4"), true);
    assert.equal(all.contains("::1"), false);
  });

  it("matches everything with ::/0", () => {
    const list = CidrList.parse("::/0");
    assert.equal(list.contains("1.2.3.4"), true);
    assert.equal(list.contains("2001:db8::1"), true);
  });

  it("is false for text that is not an address", () => {
    const list = CidrList.parse("0.0.0.0/0,::/0");
    for (const addr of ["", "localhost", "1.2.3", "unix:socket", "::g"]) {
      assert.equal(list.contains(addr), false, addr);
    }
  });

  it("answers the same on repeated questions (cached)", () => {
    const list = CidrList.parse("10.0.0.0/8");
    for (let i = 0; i < 3; i++) {
      assert.equal(list.contains("10.0.0.1"), true);
      assert.equal(list.contains("11.0.0.1"), false);
    }
  });

  it("stays correct after more distinct addresses than its cache holds", () => {
    const list = CidrList.parse("10.0.0.0/16");
    for (let i = 0; i < 5000; i++) {
      const a = `10.${i % 2}.${(i >> 8) & 0xff}.${i & 0xff}`;
      assert.equal(list.contains(a), i % 2 === 0, a);
    }
  });
});
