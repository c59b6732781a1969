/**
 * The Tower's protocol as values (src/tower/protocol.ts): requests and
 * replies parsed and formatted, and replies kept within their size. No
 * sockets, so the file runs unchanged under `deno test` and `bun test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  formatReply,
  formatRequest,
  MAX_REPLY_BYTES,
  parseReply,
  parseRequest,
  type TowerRequest,
} from "../../src/tower/protocol.ts";
import { respond } from "../../src/tower/server.ts";
import { newState, opened } from "../helpers/tower_fixtures.ts";

afterEach(() => {
  for (const state of opened.splice(0)) state.close();
});

describe("parseRequest", () => {
  it("reads every command", () => {
    assert.deepEqual(parseRequest("REGISTER|web|10.0.0.7|8080"), {
      kind: "REGISTER",
      name: "web",
      host: "10.0.0.7",
      port: 8080,
    });
    assert.deepEqual(parseRequest("DEREGISTER|web|::1|8080"), {
      kind: "DEREGISTER",
      name: "web",
      host: "::1",
      port: 8080,
    });
    assert.deepEqual(parseRequest("LOOKUP|web"), { kind: "LOOKUP", name: "web" });
    assert.deepEqual(parseRequest("LOOKUPALL|web"), { kind: "LOOKUPALL", name: "web" });
    assert.deepEqual(parseRequest("LIST"), { kind: "LIST" });
    assert.deepEqual(parseRequest("PING"), { kind: "PING" });
  });

  it("tolerates exactly one trailing \\n or \\r\\n", () => {
    assert.deepEqual(parseRequest("PING\n"), { kind: "PING" });
    assert.deepEqual(parseRequest("PING\r\n"), { kind: "PING" });
    assert.deepEqual(parseRequest("LOOKUP|web\n"), { kind: "LOOKUP", name: "web" });
    assert.deepEqual(parseRequest("REGISTER|web|10.0.0.7|8080\r\n"), {
      kind: "REGISTER",
      name: "web",
      host: "10.0.0.7",
      port: 8080,
    });
    assert.deepEqual(parseRequest("PING\n\n"), { kind: "ERR", reason: "unknown command" });
    assert.deepEqual(parseRequest("LOOKUP|web\n\n"), {
      kind: "ERR",
      reason: "NOT_FOUND",
      name: "web\n",
    });
    assert.deepEqual(parseRequest("LOOKUP|web\r"), {
      kind: "ERR",
      reason: "NOT_FOUND",
      name: "web\r",
    });
  });

  it("names what is wrong in the seed's words", () => {
    const unknown = { kind: "ERR", reason: "unknown command" };
    const register = { kind: "ERR", reason: "REGISTER syntax: name|ip|port" };
    const deregister = { kind: "ERR", reason: "DEREGISTER syntax: name|ip|port" };
    const notFound = (name: string) => ({ kind: "ERR", reason: "NOT_FOUND", name });
    const cases: [string, object][] = [
      ["", unknown],
      ["\n", unknown],
      ["HELLO", unknown],
      ["ping", unknown],
      [" PING", unknown],
      ["|", unknown],
      ["PING|x", unknown],
      ["LIST|", unknown],
      // As in the seed, a command with arguments is its word and a "|".
      ["LOOKUP", unknown],
      ["LOOKUPALL", unknown],
      ["REGISTER", unknown],
      ["DEREGISTER", unknown],
      ["LOOKUP|a|b", notFound("a|b")],
      ["LOOKUP|", notFound("")],
      ["LOOKUPALL|a b", notFound("a b")],
      ["REGISTER|web|10.0.0.7", register],
      ["REGISTER|web|10.0.0.7|80|x", register],
      // The weight extension: weight=1..1000, nothing else, and never on DEREGISTER.
      ["REGISTER|web|10.0.0.7|80|weight=0", register],
      ["REGISTER|web|10.0.0.7|80|weight=1001", register],
      ["REGISTER|web|10.0.0.7|80|weight=03", register],
      ["REGISTER|web|10.0.0.7|80|weight=", register],
      ["REGISTER|web|10.0.0.7|80|Weight=3", register],
      ["REGISTER|web|10.0.0.7|80|weight=3|x", register],
      ["DEREGISTER|web|10.0.0.7|80|weight=3", deregister],
      ["REGISTER||10.0.0.7|80", register],
      [`REGISTER|${"n".repeat(64)}|10.0.0.7|80`, register],
      ["REGISTER|web|10.0.0.256|80", register],
      ["REGISTER|web||80", register],
      ["REGISTER|web|[::1]|80", register],
      ["REGISTER|web|10.0.0.7|0", register],
      ["REGISTER|web|10.0.0.7|65536", register],
      ["REGISTER|web|10.0.0.7|080", register],
      ["REGISTER|web|10.0.0.7|80x", register],
      ["REGISTER|web|10.0.0.7|", register],
      ["DEREGISTER|web|10.0.0.7|-1", deregister],
      ["DEREGISTER|web|10.0.0.7", deregister],
    ];
    for (const [line, reply] of cases) {
      assert.deepEqual(parseRequest(line), reply, JSON.stringify(line));
    }
  });

  it("formatRequest writes what parseRequest reads", () => {
    const requests: TowerRequest[] = [
      { kind: "REGISTER", name: "web", host: "::1", port: 8080 },
      { kind: "DEREGISTER", name: "web", host: "10.0.0.7", port: 1 },
      { kind: "REGISTER", name: "web", host: "10.0.0.7", port: 80, weight: 1000 },
      { kind: "LOOKUP", name: "a.b" },
      { kind: "LOOKUPALL", name: "a-b" },
      { kind: "LIST" },
      { kind: "PING" },
    ];
    assert.equal(formatRequest(requests[0]), "REGISTER|web|::1|8080");
    assert.equal(formatRequest(requests[2]), "REGISTER|web|10.0.0.7|80|weight=1000");
    assert.equal(formatRequest(requests[4]), "LOOKUPALL|a-b");
    for (const request of requests) assert.deepEqual(parseRequest(formatRequest(request)), request);
  });
});

describe("reply size", () => {
  it("LIST and LOOKUPALL include only what fits, and count only that", () => {
    const { state } = newState();
    for (let i = 0; i < 3000; i++) {
      state.register("service-with-a-long-name", `10.0.${i >> 8}.${i & 255}`, 10000 + i);
    }
    const list = respond(state, "LIST")!;
    assert.ok(list.length <= MAX_REPLY_BYTES, `${list.length}`);
    const parsed = parseReply(list);
    assert.equal(parsed?.kind, "LIST");
    const count = Number(list.split("|")[2]);
    assert.ok(count > 100 && count < 3000, `${count}`);
    assert.equal(parsed?.kind === "LIST" && parsed.entries.length, count);

    const all = respond(state, "LOOKUPALL|service-with-a-long-name")!;
    assert.ok(all.length <= MAX_REPLY_BYTES);
    const reply = parseReply(all);
    assert.equal(reply?.kind === "LOOKUPALL" && reply.replicas.length, Number(all.split("|")[3]));
  });
});

describe("parseReply / formatReply", () => {
  it("round-trips every reply", () => {
    const lines = [
      "OK|REGISTERED|web",
      "OK|DEREGISTERED|web",
      "OK|LOOKUP|web|10.0.0.7|8080",
      "OK|LOOKUP|web|::1|8080",
      "OK|LOOKUPALL|web|1|10.0.0.7:8080",
      "OK|LOOKUPALL|web|3|10.0.0.7:8080,[::1]:8081,web-2.internal:80",
      "OK|LOOKUPALL|web|2|10.0.0.7:8080/3,[::1]:8081/1000",
      "OK|LIST|0|",
      "OK|LIST|2|web:10.0.0.7:8080:30,api:[fe80::1]:9000:7",
      "OK|PONG|tower",
      "ERR|NOT_FOUND|web",
      "ERR|UNKNOWN_COMMAND",
      "ERR|unknown command",
      "ERR|registry full",
      "ERR|REGISTER syntax: name|ip|port",
      "ERR|DEREGISTER syntax: name|ip|port",
      "ERR|UNAUTHORIZED|web",
    ];
    for (const line of lines) {
      const reply = parseReply(line);
      assert.ok(reply, line);
      assert.equal(formatReply(reply), line);
    }
  });

  it("gives the parts", () => {
    assert.deepEqual(parseReply("OK|LOOKUPALL|web|2|10.0.0.7:8080,[::1]:8081"), {
      kind: "LOOKUPALL",
      name: "web",
      replicas: [{ host: "10.0.0.7", port: 8080 }, { host: "::1", port: 8081 }],
    });
    assert.deepEqual(parseReply("OK|LOOKUPALL|web|2|10.0.0.7:8080/3,[::1]:8081"), {
      kind: "LOOKUPALL",
      name: "web",
      replicas: [{ host: "10.0.0.7", port: 8080, weight: 3 }, { host: "::1", port: 8081 }],
    });
    assert.deepEqual(parseReply("OK|LIST|1|web:[::1]:8080:29"), {
      kind: "LIST",
      entries: [{ name: "web", host: "::1", port: 8080, ttlLeft: 29 }],
    });
    assert.deepEqual(parseReply("ERR|NOT_FOUND|web\n"), {
      kind: "ERR",
      reason: "NOT_FOUND",
      name: "web",
    });
    // A third field that is no service name is not taken for one.
    assert.deepEqual(parseReply("ERR|UNKNOWN_COMMAND|a b"), {
      kind: "ERR",
      reason: "UNKNOWN_COMMAND",
    });
    // The seed's syntax texts are read whole, though they contain "|".
    assert.deepEqual(parseReply("ERR|REGISTER syntax: name|ip|port"), {
      kind: "ERR",
      reason: "REGISTER syntax: name|ip|port",
    });
    assert.deepEqual(parseReply("ERR|registry full"), { kind: "ERR", reason: "registry full" });
    // Another Tower's wording is still an ERR.
    assert.deepEqual(parseReply("ERR|unknown command: LOOKUPALL|x|y"), {
      kind: "ERR",
      reason: "unknown command: LOOKUPALL",
    });
  });

  it("rejects what is not a reply", () => {
    for (
      const bad of [
        "",
        "OK",
        "HELLO|x",
        "OK|LOOKUP|web|10.0.0.7",
        "OK|LOOKUP|web|10.0.0.7|0",
        "OK|LOOKUPALL|web|2|10.0.0.7:8080",
        "OK|LOOKUPALL|web|x|10.0.0.7:8080",
        "OK|LOOKUPALL|web|1|::1:8080",
        "OK|LOOKUPALL|web|1|10.0.0.7:8080/0",
        "OK|LOOKUPALL|web|1|10.0.0.7:8080/1001",
        "OK|LOOKUPALL|web|1|10.0.0.7:8080/x",
        "OK|LOOKUPALL|web|1|10.0.0.7:8080/",
        "OK|LIST|1|",
        "OK|LIST|1|web:10.0.0.7:8080",
        "OK|REGISTERED",
        "OK|REGISTERED|a|b",
        "ERR",
        "ERR|",
        "ERR|tab\there",
        "OK|WHAT|web",
      ]
    ) {
      assert.equal(parseReply(bad), undefined, JSON.stringify(bad));
    }
  });
});
