/**
 * Which request a Tower reply can answer (src/tower/matching.ts), with the
 * seed's errors that name no service, and the rule that keeps two requests
 * one reply could answer apart. Pure values: runs unchanged under
 * `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { answersAlike, canAnswer, conflicts, soleRequestLine } from "../../src/tower/matching.ts";
import {
  formatRequest,
  parseReply,
  parseRequest,
  type TowerReply,
  type TowerRequest,
} from "../../src/tower/protocol.ts";

const request = (line: string) => parseRequest(line) as TowerRequest;
const reply = (line: string) => parseReply(line) as TowerReply;

const REQUESTS = [
  "REGISTER|web|10.0.0.7|80",
  "REGISTER|web|10.0.0.8|80",
  "REGISTER|api|10.0.0.7|80",
  "DEREGISTER|web|10.0.0.7|80",
  "DEREGISTER|api|10.0.0.7|80",
  "LOOKUP|web",
  "LOOKUP|api",
  "LOOKUPALL|web",
  "LOOKUPALL|api",
  "LIST",
  "PING",
].map(request);

/** Every kind of reply a seed or a Gatehouse Tower (older ones too) sends. */
const REPLIES = [
  "OK|REGISTERED|web",
  "OK|REGISTERED|api",
  "OK|DEREGISTERED|web",
  "OK|LOOKUP|web|10.0.0.7|80",
  "OK|LOOKUPALL|api|1|10.0.0.7:80",
  "OK|LIST|0|",
  "OK|PONG|tower",
  "ERR|NOT_FOUND|web",
  "ERR|NOT_FOUND|api",
  "ERR|UNAUTHORIZED|web",
  "ERR|FORBIDDEN|api",
  "ERR|FULL|web",
  "ERR|unknown command",
  "ERR|registry full",
  "ERR|REGISTER syntax: name|ip|port",
  "ERR|DEREGISTER syntax: name|ip|port",
  "ERR|UNKNOWN_COMMAND",
  "ERR|MALFORMED",
  "ERR|NOT_FOUND|a b",
].map(reply);

describe("canAnswer", () => {
  it("reads the seed's errors that name nothing by what they can answer", () => {
    const who = (text: string) =>
      REQUESTS.filter((r) => canAnswer(r, reply(text))).map(formatRequest);
    assert.deepEqual(who("ERR|registry full"), [
      "REGISTER|web|10.0.0.7|80",
      "REGISTER|web|10.0.0.8|80",
      "REGISTER|api|10.0.0.7|80",
    ]);
    assert.deepEqual(who("ERR|REGISTER syntax: name|ip|port"), who("ERR|registry full"));
    assert.deepEqual(who("ERR|DEREGISTER syntax: name|ip|port"), [
      "DEREGISTER|web|10.0.0.7|80",
      "DEREGISTER|api|10.0.0.7|80",
    ]);
    // A seed answers LOOKUPALL so; LOOKUP, LIST and PING always get named replies.
    assert.deepEqual(who("ERR|unknown command"), [
      "REGISTER|web|10.0.0.7|80",
      "REGISTER|web|10.0.0.8|80",
      "REGISTER|api|10.0.0.7|80",
      "DEREGISTER|web|10.0.0.7|80",
      "DEREGISTER|api|10.0.0.7|80",
      "LOOKUPALL|web",
      "LOOKUPALL|api",
    ]);
    assert.deepEqual(who("ERR|NOT_FOUND|a b"), []);
  });

  it("named replies go to their service, refusals to changes only", () => {
    const who = (text: string) =>
      REQUESTS.filter((r) => canAnswer(r, reply(text))).map(formatRequest);
    assert.deepEqual(who("ERR|NOT_FOUND|web"), [
      "DEREGISTER|web|10.0.0.7|80",
      "LOOKUP|web",
      "LOOKUPALL|web",
    ]);
    assert.deepEqual(who("ERR|UNAUTHORIZED|web"), [
      "REGISTER|web|10.0.0.7|80",
      "REGISTER|web|10.0.0.8|80",
      "DEREGISTER|web|10.0.0.7|80",
    ]);
    assert.deepEqual(who("OK|LOOKUPALL|api|1|10.0.0.7:80"), ["LOOKUPALL|api"]);
    assert.deepEqual(who("OK|PONG|tower"), ["PING"]);
  });
});

describe("soleRequestLine", () => {
  it("names the one request that can receive a reply, when only one can", () => {
    const lines = REQUESTS.map(formatRequest);
    for (const r of REPLIES) {
      const sole = soleRequestLine(r);
      if (sole === undefined) continue;
      for (const line of lines) {
        assert.equal(canAnswer(request(line), r), line === sole, `${line} / ${sole}`);
      }
    }
    assert.equal(soleRequestLine(reply("OK|LOOKUPALL|api|1|10.0.0.7:80")), "LOOKUPALL|api");
    assert.equal(soleRequestLine(reply("OK|REGISTERED|web")), undefined);
    assert.equal(soleRequestLine(reply("ERR|NOT_FOUND|web")), undefined);
  });
});

describe("conflicts", () => {
  it("is exactly: some reply could answer both, and not alike", () => {
    for (const a of REQUESTS) {
      for (const b of REQUESTS) {
        const expected = formatRequest(a) !== formatRequest(b) &&
          REPLIES.some((r) => canAnswer(a, r) && canAnswer(b, r) && !answersAlike(r, a, b));
        const label = `${formatRequest(a)} / ${formatRequest(b)}`;
        assert.equal(conflicts(a, b), expected, label);
        assert.equal(conflicts(b, a), expected, label);
      }
    }
  });

  it("lets lookups of different services, and a REGISTER with a LOOKUP, go together", () => {
    assert.equal(conflicts(request("LOOKUPALL|web"), request("LOOKUPALL|api")), false);
    assert.equal(conflicts(request("LOOKUP|web"), request("LOOKUP|api")), false);
    assert.equal(conflicts(request("REGISTER|web|10.0.0.7|80"), request("LOOKUP|web")), false);
    assert.equal(conflicts(request("REGISTER|web|10.0.0.7|80"), request("LIST")), false);
    assert.equal(conflicts(request("REGISTER|web|10.0.0.7|80"), request("LOOKUPALL|api")), true);
    assert.equal(
      conflicts(request("REGISTER|a|10.0.0.7|80"), request("DEREGISTER|b|::1|80")),
      true,
    );
  });
});
