/**
 * A route's rules written back in the config file's keys
 * (src/config/rules_entry.ts): read again, they are the same rules. Runs
 * under `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseRouteRules } from "../../src/config/route_rules.ts";
import { ruleEntry } from "../../src/config/rules_entry.ts";
import { ConfigError, type Problem } from "../../src/config/errors.ts";
import { NO_RULES } from "../../src/routing/rules.ts";

const problem: Problem = (key, message) => {
  throw new ConfigError(`${key}: ${message}`);
};

/** Rules read from `keys`, written back, and read again: both readings, and the entry. */
function roundTrip(keys: Record<string, unknown>) {
  const first = parseRouteRules({ prefix: "/api", service: "api", ...keys }, problem, 8443);
  const entry = ruleEntry(first);
  const second = parseRouteRules({ prefix: "/api", service: "api", ...entry }, problem, 8443);
  return { first, entry, second };
}

describe("ruleEntry", () => {
  it("is {} for a route that only forwards", () => {
    assert.deepEqual(ruleEntry(NO_RULES), {});
  });

  it("writes every rule in the file's keys, which read back as the same rules", () => {
    const { first, entry, second } = roundTrip({
      "strip-prefix": true,
      "request-headers": {
        set: { "X-Env": "prod" },
        add: { "X-Tag": ["a", "b"], "X-One": 1 },
        remove: ["X-Debug"],
      },
      "response-headers": { set: { "Cache-Control": "no-store" } },
      timeouts: { upstream: "5s", try: "500ms", connect: 2 },
      retries: 2,
      "max-body": "1m",
    });
    assert.deepEqual(entry, {
      "strip-prefix": true,
      "request-headers": {
        remove: ["x-debug"],
        set: { "X-Env": "prod" },
        add: { "X-Tag": ["a", "b"], "X-One": ["1"] },
      },
      "response-headers": { set: { "Cache-Control": "no-store" } },
      timeouts: { connect: "2s", upstream: "5s", try: "500ms" },
      retries: 2,
      "max-body": 1048576,
    });
    assert.deepEqual(second, first);
  });

  it("writes a fixed response, a redirect and a replaced prefix", () => {
    const respond = roundTrip({ respond: { status: 503, body: "down\n" } });
    assert.deepEqual(respond.entry, {
      respond: { status: 503, body: "down\n", "content-type": "text/plain; charset=utf-8" },
    });
    assert.deepEqual(respond.second, respond.first);
    const redirect = roundTrip({ "redirect-https": true, "replace-prefix": "/v2" });
    assert.deepEqual(redirect.entry, { "replace-prefix": "/v2", "redirect-https": 308 });
    assert.deepEqual(redirect.second, redirect.first);
  });
});
