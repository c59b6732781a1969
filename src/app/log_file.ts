/**
 * A log file that lines are appended to in batches: written as bytes
 * straight into the batch (a {@link LineSink}: no string per line), and
 * the batch written when it fills or every ~100 ms, each write whole lines
 * at the file's end (O_APPEND), so several processes can share one file
 * without their lines mixing. Never a write per line, and never a write
 * that waits on the event loop: the runtime writes off it, one batch at a
 * time, while the next batch fills in another array.
 *
 * It is opened again on request (SIGUSR1, after logrotate moved it away),
 * and flushed and closed on shutdown. A file that cannot be opened or
 * written (a folder, a full disk) never stops anything: it is said once,
 * the lines meanwhile are dropped and counted, and the count is said when
 * writing works again (it is tried again with each batch).
 *
 * @module
 */

import type { AppendFile } from "../runtime/types.ts";
import { messageOf } from "../error_message.ts";
import type { LineSink } from "../proxy/access_log.ts";
import { LineBuffer } from "../proxy/log_line.ts";

/** How a {@link LogFile} batches (all optional). */
export interface LogFileOptions {
  /** Write at once when this many bytes wait (default 64 KiB). */
  batchBytes?: number;
  /** Write what waits at least this often, in ms (default 100). */
  flushMs?: number;
  /**
   * Most bytes waiting while a write is slow; lines beyond are dropped and
   * counted (default 4 MiB), so a stalled disk cannot fill the memory.
   */
  maxPendingBytes?: number;
}

const NEWLINE = 0x0a;

/**
 * Lines appended to the file at `path`, in batches.
 *
 * @example
 * ```ts
 * import { LogFile } from "./log_file.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * const runtime = currentRuntime();
 * const file = new LogFile("access.log", (p) => runtime.openAppend(p), console.error);
 * file.append('{"status":200}');
 * file.reopen(); // logrotate moved it: the next lines go to a new access.log
 * await file.close(); // what waits is written first
 * ```
 */
export class LogFile implements LineSink {
  /** The file's path, as given. */
  readonly path: string;
  readonly #open: (path: string) => Promise<AppendFile>;
  readonly #log: (line: string) => void;
  readonly #batchBytes: number;
  readonly #flushMs: number;
  readonly #maxPending: number;
  #file: AppendFile | null = null;
  /** The batch: whole lines waiting for the next write, then the line being written. */
  readonly buffer: LineBuffer;
  /** Where the line being written began, and how many whole lines are before it. */
  #lineStart = 0;
  #lines = 0;
  /** An array a finished write gave back, for the batch after next. */
  #spare: Uint8Array | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** The timer fired (or a close asks) while lines wait: write them whatever their size. */
  #due = false;
  /** The file is to be opened (again) before the next write. */
  #reopen = true;
  /** The writing loop while it runs. */
  #running: Promise<void> | null = null;
  #closed = false;
  /** Lines dropped since writing last worked. */
  #dropped = 0;
  /** Why writing fails, once said; null while it works. */
  #trouble: string | null = null;

  /**
   * Append to `path`, opened with `open` (now, then on each {@link reopen});
   * `log` says what goes wrong, once, and when it works again.
   */
  constructor(
    path: string,
    open: (path: string) => Promise<AppendFile>,
    log: (line: string) => void,
    options: LogFileOptions = {},
  ) {
    this.path = path;
    this.#open = open;
    this.#log = log;
    this.#batchBytes = options.batchBytes ?? 64 * 1024;
    this.#flushMs = options.flushMs ?? 100;
    this.#maxPending = options.maxPendingBytes ?? 4 * 1024 * 1024;
    this.buffer = new LineBuffer(this.#arraySize);
    // Opened at once: the file appears, and a path that cannot be is said, at start.
    this.#kick();
  }

  /** Lines dropped since writing last worked (a full disk, a write too slow). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Add `line` (without its newline) to the batch, as UTF-8. */
  append(line: string): void {
    this.buffer.text(line);
    this.lineWritten();
  }

  /** The line written into {@link buffer} is whole: it joins the batch (or is dropped). */
  lineWritten(): void {
    const buffer = this.buffer;
    if (this.#closed) {
      buffer.length = this.#lineStart;
      return;
    }
    if (buffer.length + 1 > this.#maxPending) {
      buffer.length = this.#lineStart;
      return this.#failed(1, "the writes fall behind");
    }
    buffer.byte(NEWLINE);
    this.#lineStart = buffer.length;
    this.#lines++;
    if (buffer.length >= this.#batchBytes) this.#kick();
    else this.#timer ??= setTimeout(this.#tick, this.#flushMs);
  }

  /** A batch's array: a full batch and a long line fit. */
  get #arraySize(): number {
    return this.#batchBytes + 16 * 1024;
  }

  /** Open the file again before the next write (after it was moved away); the next lines go there. */
  reopen(): void {
    if (this.#closed) return;
    this.#reopen = true;
    this.#kick();
  }

  /** Write what waits, then close the file; later lines are ignored. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#due = true;
    while (this.#running !== null || this.#lines > 0) {
      this.#kick();
      await this.#running;
    }
    this.#file?.close();
    this.#file = null;
    if (this.#dropped > 0) this.#log(`access log ${this.path}: ${this.#dropped} lines dropped`);
  }

  readonly #tick = (): void => {
    this.#timer = null;
    this.#due = true;
    this.#kick();
  };

  /** Run the writing loop unless it runs. */
  #kick(): void {
    this.#running ??= this.#run().finally(() => {
      this.#running = null;
      if (this.#closed) return;
      const waiting = this.#lines > 0;
      if (this.#reopen || (waiting && (this.#due || this.buffer.length >= this.#batchBytes))) {
        this.#kick();
      } else if (waiting) {
        // Lines that came during the last write and fill no batch wait for the timer.
        this.#timer ??= setTimeout(this.#tick, this.#flushMs);
      }
    });
  }

  /** One batch after the other while one is full or due; the file opened again when asked. */
  async #run(): Promise<void> {
    while (true) {
      while (this.#reopen) await this.#reopenNow();
      if (this.#lines === 0) return;
      if (!this.#due && this.buffer.length < this.#batchBytes) return;
      this.#due = false;
      // The batch's lines go; the next batch fills another array meanwhile.
      const buffer = this.buffer;
      const array = buffer.bytes;
      const data = array.subarray(0, buffer.length);
      buffer.bytes = this.#spare ?? new Uint8Array(this.#arraySize);
      buffer.length = 0;
      this.#spare = null;
      this.#lineStart = 0;
      this.#lines = 0;
      await this.#write(data);
      // Kept for a later batch unless a long line made it large.
      if (array.length <= this.#arraySize) this.#spare = array;
    }
  }

  async #reopenNow(): Promise<void> {
    this.#reopen = false;
    const old = this.#file;
    this.#file = null;
    old?.close();
    try {
      this.#file = await this.#open(this.path);
    } catch (e) {
      this.#failed(0, `cannot open it: ${messageOf(e)}`);
    }
  }

  /** Write `data`, whole lines; those not written are dropped and counted. */
  async #write(data: Uint8Array): Promise<void> {
    let written = 0;
    try {
      // A file that could not be opened is tried again with each batch.
      if (this.#file === null) this.#file = await this.#open(this.path);
      const file = this.#file;
      while (written < data.length) {
        const n = await file.write(written === 0 ? data : data.subarray(written));
        if (n <= 0) throw new Error("nothing was written");
        written += n;
      }
    } catch (e) {
      // Lines whose newline was not written are lost (one may be cut short).
      let lost = 0;
      for (let i = written; i < data.length; i++) if (data[i] === NEWLINE) lost++;
      return this.#failed(lost, `cannot write: ${messageOf(e)}`);
    }
    if (this.#trouble !== null) {
      this.#log(`access log ${this.path}: writing again; ${this.#dropped} lines dropped`);
      this.#trouble = null;
      this.#dropped = 0;
    }
  }

  /** `lines` are lost because of `why`: counted, and said when it starts. */
  #failed(lines: number, why: string): void {
    this.#dropped += lines;
    if (this.#trouble !== null) return;
    this.#trouble = why;
    this.#log(`access log ${this.path}: ${why}; dropping lines until it works again`);
  }
}
