/**
 * The access log file's batching writer: lines written in batches (when a
 * batch fills, or on a timer), whole lines per write and one write at a
 * time, reopened on request, flushed on close; a file that cannot be opened
 * or written said once, its lines dropped and counted, the count said when
 * writing works again. Against a fake file whose writes the test holds and
 * fails.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LogFile, type LogFileOptions } from "../../src/app/log_file.ts";
import type { AppendFile } from "../../src/runtime/types.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fake file system: each open makes a file; writes can be held or made to fail. */
class FakeFiles {
  /** Every file opened, in order, with the text written to it. */
  opened: { path: string; text: string; closed: boolean }[] = [];
  /** Writes so far, each as text. */
  writes: string[] = [];
  /** Opening fails with this while set. */
  openError: Error | null = null;
  /** Writes fail with this while set (after writing `partial` bytes, when given). */
  writeError: Error | null = null;
  partial = 0;
  /** While set, a write waits until {@link release}. */
  hold = false;
  #held: (() => void)[] = [];
  inFlight = 0;
  maxInFlight = 0;

  open = (path: string): Promise<AppendFile> => {
    if (this.openError !== null) return Promise.reject(this.openError);
    const file = { path, text: "", closed: false };
    this.opened.push(file);
    return Promise.resolve({
      write: async (data: Uint8Array) => {
        assert.ok(!file.closed, "no write to a closed file");
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        try {
          if (this.hold) await new Promise<void>((r) => this.#held.push(r));
          if (this.writeError !== null) {
            if (this.partial > 0 && this.partial < data.length) {
              const n = this.partial;
              this.partial = 0;
              file.text += new TextDecoder().decode(data.subarray(0, n));
              return n;
            }
            throw this.writeError;
          }
          const text = new TextDecoder().decode(data);
          this.writes.push(text);
          file.text += text;
          return data.length;
        } finally {
          this.inFlight--;
        }
      },
      close: () => {
        file.closed = true;
      },
    });
  };

  release(): void {
    const held = this.#held;
    this.#held = [];
    for (const r of held) r();
  }
}

function start(options: LogFileOptions = {}) {
  const files = new FakeFiles();
  const said: string[] = [];
  const log = new LogFile("access.log", files.open, (l) => said.push(l), {
    flushMs: 30,
    ...options,
  });
  return { files, said, log };
}

const ENOSPC = new Error("No space left on device (os error 28)");
const EISDIR = new Error("Is a directory (os error 21)");

describe("LogFile: batches", () => {
  it("opens the file at once, and writes lines together after the flush period", async () => {
    const { files, log } = start();
    await sleep(5);
    assert.equal(files.opened.length, 1);
    log.append("a");
    log.append("b");
    log.append("c");
    await sleep(5);
    assert.deepEqual(files.writes, [], "no write per line");
    await sleep(60);
    assert.deepEqual(files.writes, ["a\nb\nc\n"]);
    await log.close();
  });

  it("writes a full batch without waiting for the timer", async () => {
    const { files, log } = start({ flushMs: 60_000, batchBytes: 20 });
    await sleep(5);
    for (let i = 0; i < 5; i++) log.append(`line-${i}`); // 7 bytes each
    await sleep(10);
    assert.deepEqual(files.writes, ["line-0\nline-1\nline-2\n"]);
    await log.close();
    assert.deepEqual(files.writes, ["line-0\nline-1\nline-2\n", "line-3\nline-4\n"]);
  });

  it("has one write in flight; lines that come meanwhile go in the next, whole", async () => {
    const { files, log } = start({ batchBytes: 10 });
    await sleep(5);
    files.hold = true;
    log.append("first-line");
    await sleep(5);
    for (let i = 0; i < 50; i++) log.append(`more-${i}`);
    await sleep(50);
    assert.equal(files.inFlight, 1);
    files.hold = false;
    files.release();
    await log.close();
    assert.equal(files.maxInFlight, 1);
    const expected = ["first-line", ...Array.from({ length: 50 }, (_, i) => `more-${i}`)];
    assert.equal(files.opened[0].text, expected.join("\n") + "\n");
    for (const w of files.writes) assert.ok(w.endsWith("\n"), "whole lines per write");
  });

  it("writes what waits on close, closes the file and ignores later lines", async () => {
    const { files, log } = start({ flushMs: 60_000 });
    log.append("last");
    await log.close();
    assert.equal(files.opened[0].text, "last\n");
    assert.equal(files.opened[0].closed, true);
    log.append("after");
    await sleep(5);
    assert.equal(files.opened[0].text, "last\n");
  });
});

describe("LogFile: lines written into its batch", () => {
  it("takes lines written as bytes into its buffer, a line longer than its array too", async () => {
    const { files, log } = start({ batchBytes: 64 });
    await sleep(5);
    const long = "y".repeat(100_000);
    for (const text of ["short", long, "after"]) {
      log.buffer.jsonString(text);
      log.lineWritten();
    }
    for (let i = 0; i < 20; i++) log.append(`more-${i}`);
    await log.close();
    const lines = files.opened[0].text.split("\n");
    assert.equal(lines.pop(), "");
    assert.deepEqual(lines.slice(0, 3).map((l) => JSON.parse(l)), ["short", long, "after"]);
    assert.deepEqual(lines.slice(3), Array.from({ length: 20 }, (_, i) => `more-${i}`));
  });

  it("drops a line written after close", async () => {
    const { files, log } = start();
    await log.close();
    log.buffer.text("late");
    log.lineWritten();
    assert.equal(log.buffer.length, 0);
    assert.equal(files.writes.length, 0);
  });
});

describe("LogFile: reopening (SIGUSR1)", () => {
  it("sends the lines after a reopen to a new file, and loses none", async () => {
    const { files, log } = start();
    log.append("before");
    await sleep(60);
    log.reopen();
    await sleep(5);
    assert.equal(files.opened.length, 2, "opened again at once");
    assert.equal(files.opened[0].closed, true);
    log.append("after");
    await log.close();
    assert.equal(files.opened[0].text, "before\n");
    assert.equal(files.opened[1].text, "after\n");
  });

  it("lets a write in flight finish in the old file", async () => {
    const { files, log } = start({ batchBytes: 5 });
    await sleep(5);
    files.hold = true;
    log.append("in-flight");
    await sleep(5);
    log.reopen();
    log.append("next");
    files.hold = false;
    files.release();
    await log.close();
    assert.deepEqual(files.opened.map((f) => f.text), ["in-flight\n", "next\n"]);
  });
});

describe("LogFile: when the file cannot be written", () => {
  it("says a file that cannot be opened once, drops and counts lines, and says when it works", async () => {
    const files = new FakeFiles();
    files.openError = EISDIR;
    const said: string[] = [];
    const log = new LogFile("logs", files.open, (l) => said.push(l), { flushMs: 20 });
    await sleep(5);
    assert.deepEqual(said, [
      "access log logs: cannot open it: Is a directory (os error 21); dropping lines until it works again",
    ]);
    for (let round = 0; round < 3; round++) {
      log.append(`a${round}`);
      log.append(`b${round}`);
      await sleep(40);
    }
    assert.equal(said.length, 1, "said once");
    assert.equal(log.dropped, 6);
    files.openError = null;
    log.append("works");
    await sleep(40);
    assert.equal(said[1], "access log logs: writing again; 6 lines dropped");
    assert.equal(log.dropped, 0);
    assert.equal(files.opened[0].text, "works\n");
    await log.close();
    assert.equal(said.length, 2);
  });

  it("says a full disk once, counts what a partial write cut off, and recovers", async () => {
    const { files, said, log } = start();
    await sleep(5);
    files.writeError = ENOSPC;
    files.partial = 4; // "one\n" goes out, then the disk is full
    log.append("one");
    log.append("two");
    log.append("three");
    await sleep(60);
    assert.deepEqual(said, [
      "access log access.log: cannot write: No space left on device (os error 28); dropping lines until it works again",
    ]);
    assert.equal(log.dropped, 2);
    log.append("four");
    await sleep(60);
    assert.equal(said.length, 1);
    assert.equal(log.dropped, 3);
    files.writeError = null;
    log.append("five");
    await sleep(60);
    assert.equal(said[1], "access log access.log: writing again; 3 lines dropped");
    assert.equal(files.opened[0].text, "one\nfive\n");
    await log.close();
  });

  it("drops lines beyond the pending cap while a write is slow, and counts them", async () => {
    const { files, said, log } = start({ batchBytes: 10, maxPendingBytes: 30 });
    await sleep(5);
    files.hold = true;
    log.append("held-line"); // 10 bytes: written (and held)
    await sleep(5);
    for (let i = 0; i < 10; i++) log.append(`wait-${i}`); // 7 bytes each: 4 fit in 30
    assert.equal(log.dropped, 6);
    assert.deepEqual(said, [
      "access log access.log: the writes fall behind; dropping lines until it works again",
    ]);
    files.hold = false;
    files.release();
    await sleep(60);
    assert.equal(said[1], "access log access.log: writing again; 6 lines dropped");
    await log.close();
    assert.equal(files.opened[0].text, "held-line\nwait-0\nwait-1\nwait-2\nwait-3\n");
  });

  it("says on close how many lines it dropped while it could not write", async () => {
    const { files, said, log } = start();
    await sleep(5);
    files.writeError = ENOSPC;
    log.append("x");
    log.append("y");
    await log.close();
    assert.equal(said.at(-1), "access log access.log: 2 lines dropped");
  });
});
