/**
 * The access log's formats: classic (unchanged), json (every field there
 * and typed, strings escaped to printable ASCII), common and combined (as
 * nginx writes them: lines taken from nginx 1.22's own log for the same
 * requests), and the observer that picks one.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { accessLog, accessLogLine } from "../../src/proxy/access_log.ts";
import { jsonLine, jsonString, rfc3339 } from "../../src/proxy/access_log_json.ts";
import { clfTime, combinedLine, commonLine, nginxEscaped } from "../../src/proxy/access_log_clf.ts";
import {
  answerBodyLength,
  newRequestRecord,
  observers,
  readRecordHead,
  type RequestObserver,
  type RequestRecord,
} from "../../src/proxy/observe.ts";
import { HeadScan, scanRequestHead } from "../../src/http1/head.ts";

/** 2026-12-05 03:47:07.042 UTC. */
const AT = Date.UTC(2026, 11, 5, 3, 47, 7, 42);

/** A proxied GET as the exchange fills the record. */
function proxied(extra: Partial<RequestRecord> = {}): RequestRecord {
  return {
    ...newRequestRecord(),
    startedAt: AT,
    durationMs: 3,
    client: "127.0.0.1",
    method: "GET",
    host: "shop.example.com",
    target: "/api/items?id=7",
    protocol: "HTTP/1.1",
    status: 200,
    bytesIn: 0,
    bytesOut: 156,
    bodyBytesOut: 13,
    upstream: "10.0.0.7:8081",
    tries: 1,
    route: "shop.example.com/api:api",
    service: "api",
    generation: 3,
    requestId: "9f86d081884c7d65-7",
    ...extra,
  };
}

/** Bytes as latin1 text, one character each (as the codec reads header values). */
function latin1(bytes: number[]): string {
  return String.fromCharCode(...bytes);
}

describe("access log: classic", () => {
  it("is the line --access-log always wrote", () => {
    assert.equal(
      accessLogLine(proxied()),
      '127.0.0.1 "GET /api/items?id=7" 200 api 10.0.0.7:8081 9f86d081884c7d65-7 g3',
    );
    assert.equal(
      accessLogLine(proxied({ method: "", target: "", upstream: "", service: "", status: 400 })),
      '127.0.0.1 "- -" 400 - - 9f86d081884c7d65-7 g3',
    );
  });

  it("is the default format, and reads no headers", () => {
    const lines: string[] = [];
    const observer = accessLog((l) => lines.push(l));
    observer.request(proxied());
    assert.deepEqual(lines, [accessLogLine(proxied())]);
    assert.equal(observer.readsHeaders, false);
  });
});

describe("access log: json", () => {
  it("has every field, typed, in one object on one line", () => {
    const line = jsonLine(proxied({ bytesIn: 5, durationMs: 12 }));
    assert.ok(!line.includes("\n"));
    assert.deepEqual(JSON.parse(line), {
      time: "2026-12-05T03:47:07.042Z",
      client: "127.0.0.1",
      method: "GET",
      host: "shop.example.com",
      path: "/api/items?id=7",
      status: 200,
      bytes_in: 5,
      bytes_out: 156,
      duration_ms: 12,
      upstream: "10.0.0.7:8081",
      tries: 1,
      route: "shop.example.com/api:api",
      service: "api",
      generation: 3,
      request_id: "9f86d081884c7d65-7",
    });
  });

  it("adds error when the ingress answered with one, and keeps texts texts when unknown", () => {
    const o = JSON.parse(
      jsonLine(proxied({ status: 502, upstream: "", tries: 2, error: "UpstreamFailed" })),
    );
    assert.equal(o.error, "UpstreamFailed");
    assert.equal(o.upstream, "");
    assert.equal(o.tries, 2);
    const none = JSON.parse(jsonLine({ ...newRequestRecord(), status: 400, error: "BadRequest" }));
    for (const key of ["client", "method", "host", "path", "upstream", "route", "service"]) {
      assert.equal(none[key], "", key);
    }
    assert.equal(none.error, "BadRequest");
    assert.equal(none.time, "1970-01-01T00:00:00.000Z");
  });

  it("escapes quotes, backslashes, control and high bytes: every line printable ASCII", () => {
    const host = latin1([0x61, 0xe9, 0x00, 0x0a, 0x7f, 0x62]); // a é NUL LF DEL b
    const target = '/p?q="x"\\y';
    const id = 'id"\r\t';
    const line = jsonLine(proxied({ host, target, requestId: id }));
    assert.match(line, /^[\x20-\x7e]+$/);
    assert.ok(line.includes('"host":"a\\u00e9\\u0000\\n\\u007fb"'), line);
    assert.ok(line.includes('"path":"/p?q=\\"x\\"\\\\y"'), line);
    const o = JSON.parse(line);
    // The bytes come back exactly, one character each.
    assert.equal(o.host, host);
    assert.equal(o.path, target);
    assert.equal(o.request_id, id);
  });

  it("escapes texts beyond latin1 (a configured route) as JSON reads them back", () => {
    const route = "/caf\u00e9/\u{1f600}:web";
    const s = jsonString(route);
    assert.match(s, /^[\x20-\x7e]+$/);
    assert.equal(JSON.parse(s), route);
    assert.equal(jsonString("plain"), '"plain"');
  });

  it("writes times as RFC 3339 in UTC with milliseconds, within and across seconds", () => {
    assert.equal(rfc3339(AT), "2026-12-05T03:47:07.042Z");
    assert.equal(rfc3339(AT + 957), "2026-12-05T03:47:07.999Z");
    assert.equal(rfc3339(AT + 958), "2026-12-05T03:47:08.000Z");
    assert.equal(rfc3339(AT), "2026-12-05T03:47:07.042Z");
    assert.equal(rfc3339(Date.UTC(2027, 0, 1, 0, 0, 0, 1)), "2027-01-01T00:00:00.001Z");
  });
});

describe("access log: common and combined, as nginx writes them", () => {
  it("matches nginx's lines for the same requests", () => {
    // nginx's own log for these requests (UTC host), byte for byte.
    const odd = proxied({
      target: '/p?q="x"\\y',
      status: 200,
      bodyBytesOut: 13,
      referer: latin1([...new TextEncoder().encode("http://r/"), 0xe9, 0x01]),
      userAgent: latin1([...new TextEncoder().encode('curl/8 "q" \\ '), 0x7f]),
    });
    assert.equal(
      combinedLine(odd, 0),
      '127.0.0.1 - - [05/Dec/2026:03:47:07 +0000] "GET /p?q=\\x22x\\x22\\x5Cy HTTP/1.1" 200 13 ' +
        '"http://r/\\xE9\\x01" "curl/8 \\x22q\\x22 \\x5C \\x7F"',
    );
    assert.equal(
      commonLine(odd, 0),
      '127.0.0.1 - - [05/Dec/2026:03:47:07 +0000] "GET /p?q=\\x22x\\x22\\x5Cy HTTP/1.1" 200 13',
    );
    const head = proxied({ method: "HEAD", target: "/", protocol: "HTTP/1.0", bodyBytesOut: 0 });
    assert.equal(
      combinedLine(head, 0),
      '127.0.0.1 - - [05/Dec/2026:03:47:07 +0000] "HEAD / HTTP/1.0" 200 0 "-" "-"',
    );
    assert.equal(
      commonLine(head, 0),
      '127.0.0.1 - - [05/Dec/2026:03:47:07 +0000] "HEAD / HTTP/1.0" 200 0',
    );
  });

  it("writes the body's bytes, not the head's", () => {
    assert.match(commonLine(proxied({ bytesOut: 500, bodyBytesOut: 42 }), 0), / 200 42$/);
  });

  it("writes - for a request line the ingress never read", () => {
    const bad = { ...newRequestRecord(), client: "::1", status: 400, startedAt: AT };
    assert.equal(commonLine(bad, 0), '::1 - - [05/Dec/2026:03:47:07 +0000] "-" 400 0');
  });

  it("writes local time with its offset, east and west of UTC", () => {
    assert.equal(clfTime(AT, 60), "05/Dec/2026:04:47:07 +0100");
    assert.equal(clfTime(AT, 330), "05/Dec/2026:09:17:07 +0530");
    assert.equal(clfTime(AT, -480), "04/Dec/2026:19:47:07 -0800");
    assert.equal(clfTime(Date.UTC(2027, 0, 1, 0, 0, 5), -60), "31/Dec/2026:23:00:05 -0100");
    // Without an offset: this process's time zone at that moment.
    const offset = -new Date(AT).getTimezoneOffset();
    assert.equal(clfTime(AT), clfTime(AT, offset));
    assert.equal(commonLine(proxied()), commonLine(proxied(), offset));
  });

  it("escapes as nginx's escape=default: quote, backslash, control, 0x7f and up", () => {
    assert.equal(nginxEscaped("plain /a?b=c&d"), "plain /a?b=c&d");
    assert.equal(
      nginxEscaped(latin1([0x22, 0x5c, 0x00, 0x1f, 0x20, 0x7e, 0x7f, 0xff])),
      [
        "\\x22",
        "\\x5C",
        "\\x00",
        "\\x1F",
        " ~",
        "\\x7F",
        "\\xFF",
      ].join(""),
    );
    // Beyond latin1 (only a configured text): its UTF-8 bytes.
    assert.equal(nginxEscaped("\u20ac\u{1f600}"), "\\xE2\\x82\\xAC\\xF0\\x9F\\x98\\x80");
  });

  it("only combined has Referer and User-Agent read", () => {
    assert.equal(accessLog(() => {}, "combined").readsHeaders, true);
    for (const f of ["classic", "json", "common"] as const) {
      assert.equal(accessLog(() => {}, f).readsHeaders, false, f);
    }
    const lines: string[] = [];
    accessLog((l) => lines.push(l), "combined").request(proxied({ userAgent: "curl/8" }));
    assert.match(lines[0], / "-" "curl\/8"$/);
  });
});

describe("observe: what the head and the answers give the record", () => {
  function scanned(text: string): HeadScan {
    const scan = new HeadScan();
    const bytes = new TextEncoder().encode(text);
    assert.equal(scanRequestHead(bytes, 0, bytes.length, { maxSize: 32768 }, scan), null);
    return scan;
  }

  it("reads the version always, Referer and User-Agent only when asked", () => {
    const scan = scanned(
      "GET / HTTP/1.0\r\nHost: a\r\nreferer: http://x/\r\nUSER-AGENT: curl/8\r\n\r\n",
    );
    const r = newRequestRecord();
    readRecordHead(r, scan, false);
    assert.deepEqual([r.protocol, r.referer, r.userAgent], ["HTTP/1.0", "", ""]);
    readRecordHead(r, scan, true);
    assert.deepEqual([r.protocol, r.referer, r.userAgent], ["HTTP/1.0", "http://x/", "curl/8"]);
    readRecordHead(r, scanned("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), true);
    assert.deepEqual([r.protocol, r.referer, r.userAgent], ["HTTP/1.1", "", ""]);
  });

  it("finds the body of an answer the ingress made", () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    assert.equal(
      answerBodyLength(enc("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")),
      9,
    );
    assert.equal(answerBodyLength(enc("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n")), 0);
  });

  it("reads headers for several observers when one of them does", () => {
    const plain: RequestObserver = { request() {} };
    const reading: RequestObserver = { request() {}, readsHeaders: true };
    assert.equal(observers([plain, plain])?.readsHeaders, false);
    assert.equal(observers([plain, reading])?.readsHeaders, true);
    assert.equal(observers([]), null);
  });
});
