/**
 * Where the access log's lines go, as the configuration says: nowhere (no
 * access log), stderr with the process's other lines (as `--access-log`
 * always did), or a file of their own (`--access-log-file`, log_file.ts).
 *
 * @module
 */

import type { Runtime } from "../runtime/types.ts";
import type { RequestObserver } from "../proxy/observe.ts";
import { accessLog, accessLogTo } from "../proxy/access_log.ts";
import type { IngressConfig } from "./config.ts";
import { LogFile } from "./log_file.ts";

/** A running access log's output. */
export interface AccessLogSink {
  /** The observer that writes the lines, or null: no access log. */
  readonly observer: RequestObserver | null;
  /** Open the file again (SIGUSR1, after logrotate moved it); nothing without a file. */
  reopen(): void;
  /** Write what waits and close the file (shutdown). */
  close(): Promise<void>;
}

/**
 * The access log `config` asks for; `log` writes a line to stderr (the
 * lines themselves without a file, and what goes wrong with one). Closing
 * waits at most `closeWaitMs` for the file's last lines.
 *
 * @example
 * ```ts
 * import { startAccessLog } from "./access_log_sink.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * const sink = startAccessLog(
 *   { accessLog: true, accessLogFormat: "json", accessLogFile: "access.log" },
 *   currentRuntime(),
 *   console.error,
 * );
 * await sink.close();
 * ```
 */
export function startAccessLog(
  config: Pick<IngressConfig, "accessLog" | "accessLogFormat" | "accessLogFile">,
  runtime: Runtime,
  log: (line: string) => void,
  closeWaitMs = 5_000,
): AccessLogSink {
  if (!config.accessLog) return { observer: null, reopen() {}, close: () => Promise.resolve() };
  const path = config.accessLogFile;
  if (path === null) {
    return {
      observer: accessLog(log, config.accessLogFormat),
      reopen() {},
      close: () => Promise.resolve(),
    };
  }
  const file = new LogFile(path, (p) => runtime.openAppend(p), log);
  return {
    // Lines are written straight into the file's batch.
    observer: accessLogTo(file, config.accessLogFormat),
    reopen: () => file.reopen(),
    close: () => closeWithin(file, closeWaitMs, log),
  };
}

/** Close `file`, waiting at most `ms`: a disk that hangs must not keep the process from exiting. */
async function closeWithin(file: LogFile, ms: number, log: (line: string) => void): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), ms));
  const isLate = await Promise.race([file.close().then(() => false), late]);
  clearTimeout(timer);
  if (isLate) log(`access log ${file.path}: its last lines were not written within ${ms} ms`);
}
