/**
 * Where the access log's lines go: nowhere, stderr (the process's log, in
 * the chosen format), or a file through the runtime (reopened when asked;
 * shutdown waits a bounded time for its last lines).
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startAccessLog } from "../../src/app/access_log_sink.ts";
import { newRequestRecord } from "../../src/proxy/observe.ts";
import type { AppendFile, Runtime } from "../../src/runtime/types.ts";

const record = {
  ...newRequestRecord(),
  client: "10.0.0.9",
  method: "GET",
  target: "/a",
  status: 200,
  requestId: "id-1",
};

/** A runtime that only opens files: each open is counted; writes are kept, or never end. */
function filesRuntime(hang = false) {
  const opened: string[] = [];
  const written: string[] = [];
  const runtime = {
    openAppend(path: string): Promise<AppendFile> {
      opened.push(path);
      return Promise.resolve({
        write: (data: Uint8Array) =>
          hang
            ? new Promise<number>(() => {})
            : (written.push(new TextDecoder().decode(data)), Promise.resolve(data.length)),
        close() {},
      });
    },
  } as unknown as Runtime;
  return { runtime, opened, written };
}

describe("startAccessLog", () => {
  it("observes nothing when the access log is off", () => {
    const { runtime, opened } = filesRuntime();
    const sink = startAccessLog(
      { accessLog: false, accessLogFormat: "classic", accessLogFile: null },
      runtime,
      () => {},
    );
    assert.equal(sink.observer, null);
    assert.deepEqual(opened, []);
  });

  it("writes each line to the log (stderr) in its format without a file", async () => {
    const said: string[] = [];
    const { runtime, opened } = filesRuntime();
    const sink = startAccessLog(
      { accessLog: true, accessLogFormat: "json", accessLogFile: null },
      runtime,
      (l) => said.push(l),
    );
    sink.observer!.request(record);
    assert.equal(said.length, 1);
    assert.equal(JSON.parse(said[0]).request_id, "id-1");
    sink.reopen();
    await sink.close();
    assert.deepEqual(opened, []);
  });

  it("appends to the file, opens it again when asked, and writes the rest on close", async () => {
    const { runtime, opened, written } = filesRuntime();
    const sink = startAccessLog(
      { accessLog: true, accessLogFormat: "classic", accessLogFile: "/var/log/a.log" },
      runtime,
      () => assert.fail("nothing to say"),
    );
    sink.observer!.request(record);
    sink.reopen();
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(opened, ["/var/log/a.log", "/var/log/a.log"]);
    await sink.close();
    assert.deepEqual(written, ['10.0.0.9 "GET /a" 200 - - id-1 g0\n']);
  });

  it("waits a bounded time on close for a disk that hangs, and says so", async () => {
    const said: string[] = [];
    const { runtime } = filesRuntime(true);
    const sink = startAccessLog(
      { accessLog: true, accessLogFormat: "json", accessLogFile: "/nfs/a.log" },
      runtime,
      (l) => said.push(l),
      100,
    );
    sink.observer!.request(record);
    const started = Date.now();
    await sink.close();
    assert.ok(Date.now() - started < 1_000);
    assert.deepEqual(said, [
      "access log /nfs/a.log: its last lines were not written within 100 ms",
    ]);
  });
});
