/**
 * One parser per kind of value (src/cli/values.ts), and the one-line
 * message a flag's mistake gets.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  MAX_DURATION_MS,
  parseAddressValue,
  parseCidrList,
  parseCount,
  parseDuration,
  parseRate,
  parseReceiveBuffer,
  readFlag,
  secretOf,
  ValueError,
} from "../../src/cli/values.ts";
import { UsageError } from "../../src/cli/flags.ts";

describe("parseDuration", () => {
  it("reads every unit, bare seconds and fractions", () => {
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("10s"), 10_000);
    assert.equal(parseDuration("2m"), 120_000);
    assert.equal(parseDuration("1h"), 3_600_000);
    assert.equal(parseDuration("7"), 7_000);
    assert.equal(parseDuration("0.25s"), 250);
    assert.equal(parseDuration("1.5"), 1_500);
    assert.equal(parseDuration("0"), 0);
    assert.equal(parseDuration(" 3s "), 3_000);
  });

  it("rounds to whole milliseconds", () => {
    assert.equal(parseDuration("1.6ms"), 2);
    assert.equal(parseDuration("0.0004s"), 0);
  });

  it("refuses what a timer cannot hold", () => {
    assert.equal(MAX_DURATION_MS, 2 ** 31 - 1);
    assert.equal(parseDuration(`${MAX_DURATION_MS}ms`), MAX_DURATION_MS);
    for (const long of [`${MAX_DURATION_MS + 1}ms`, "600h", "1000h"]) {
      assert.throws(() => parseDuration(long), { message: "is longer than 24 days" }, long);
    }
  });

  it("says what is wrong; readFlag names the flag", () => {
    assert.throws(() => readFlag("--grace", "5 minutes", parseDuration), {
      name: "UsageError",
      message: '--grace: "5 minutes" is not a duration (like 500ms, 10s, 2m)',
    });
    for (const bad of ["", "ms", ".5s", "5.s", "5S", "5sec", "+5s", "5ms5"]) {
      assert.throws(() => parseDuration(bad), ValueError, bad);
    }
  });
});

describe("parseCount", () => {
  it("accepts whole numbers within bounds", () => {
    assert.equal(parseCount("5", 1, 10), 5);
    assert.equal(parseCount("1", 1, 10), 1);
    assert.equal(parseCount("10", 1, 10), 10);
    assert.equal(parseCount("007", 1, 10), 7);
  });

  it("refuses numbers outside bounds and non-numbers", () => {
    for (const bad of ["0", "11", "-1", "1.0", "0x5", "", "five", "1e1"]) {
      assert.throws(() => readFlag("--n", bad, (t) => parseCount(t, 1, 10)), {
        name: "UsageError",
        message: `--n: "${bad}" must be a whole number from 1 to 10`,
      }, bad);
    }
  });
});

describe("the other values", () => {
  it("rates: PER_SECOND[:BURST], burst twice the rate by default", () => {
    assert.deepEqual(parseRate("5"), { perSecond: 5, burst: 10 });
    assert.deepEqual(parseRate("0.5"), { perSecond: 0.5, burst: 1 });
    assert.deepEqual(parseRate("2:3"), { perSecond: 2, burst: 3 });
    for (const bad of ["0", "x", "5:0", "-1", "5:"]) {
      assert.throws(() => parseRate(bad), ValueError);
    }
  });

  it("receive buffers: 0 or 4096..64 MiB", () => {
    assert.equal(parseReceiveBuffer("0"), 0);
    assert.equal(parseReceiveBuffer("4096"), 4096);
    assert.equal(parseReceiveBuffer(String(64 * 1024 * 1024)), 64 * 1024 * 1024);
    for (const bad of ["4095", "67108865", "128k", ""]) {
      assert.throws(() => parseReceiveBuffer(bad), ValueError, bad);
    }
  });

  it("addresses: the message names the value once", () => {
    assert.deepEqual(parseAddressValue("9090", { defaultHost: "0.0.0.0" }), {
      host: "0.0.0.0",
      port: 9090,
    });
    assert.throws(() => readFlag("--addr", "h", parseAddressValue), {
      name: "UsageError",
      message: '--addr: "h": needs a port (HOST:PORT)',
    });
  });

  it("address lists: the message names the bad entry", () => {
    assert.equal(parseCidrList("").empty, true);
    assert.equal(parseCidrList("10.0.0.0/8, ::1").contains("::1"), true);
    assert.throws(() => readFlag("--allow", "10.0.0.0/8,nope", parseCidrList), {
      name: "UsageError",
      message: '--allow: invalid CIDR "nope": not an IP address',
    });
  });

  it("secrets: the flag first, then the environment; empty is none", () => {
    assert.equal(secretOf("flag", "env"), "flag");
    assert.equal(secretOf(undefined, "env"), "env");
    assert.equal(secretOf(undefined, undefined), null);
    assert.equal(secretOf("", "env"), null);
    assert.equal(secretOf(undefined, ""), null);
  });

  it("readFlag passes other errors through untouched", () => {
    const boom = new RangeError("boom");
    assert.throws(() =>
      readFlag("--x", "1", () => {
        throw boom;
      }), (e) => e === boom);
    assert.ok(!(boom instanceof UsageError));
  });
});
