/**
 * Sizing a backend connection's receive buffer (SO_RCVBUF) under Bun, which
 * has no socket option for it: the C library's setsockopt through bun:ffi,
 * on Linux only.
 *
 * @module
 */

import { builtin } from "../builtin.ts";
import type { BunFfi, BunProcess, SetSockOpt } from "./globals.ts";

declare const process: BunProcess;

/** Linux's SOL_SOCKET and SO_RCVBUF. */
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;

/**
 * Where the constants above and the C library's name hold: receive buffers
 * are set there only (`Runtime.receiveBufferApplies`).
 *
 * @example
 * ```ts
 * import { RECEIVE_BUFFER_APPLIES } from "./receive_buffer.ts";
 * if (!RECEIVE_BUFFER_APPLIES) console.log("the kernel sizes receive buffers here");
 * ```
 */
export const RECEIVE_BUFFER_APPLIES = process.platform === "linux";

/** The C library's setsockopt, loaded on first use; null where it cannot be. */
let setsockopt: SetSockOpt | null | undefined;
/** The option value handed to setsockopt (one, reused). */
const optionValue = new Int32Array(1);
let setsockoptFailed = false;

/**
 * Asks the kernel for a receive buffer of `bytes` on socket `fd` (Linux
 * doubles the figure for its bookkeeping and caps it at net.core.rmem_max).
 * A fixed size also turns off the kernel's autotuning, which would grow the
 * buffer to megabytes. Bun has no socket option for it, so the call goes to
 * the C library through bun:ffi. Failures are reported once and otherwise
 * ignored: the connection works either way. Call it only where
 * {@link RECEIVE_BUFFER_APPLIES}.
 *
 * @example
 * ```ts
 * import { RECEIVE_BUFFER_APPLIES, setReceiveBuffer } from "./receive_buffer.ts";
 * declare const fd: number; // a connected TCP socket's descriptor
 * if (RECEIVE_BUFFER_APPLIES) setReceiveBuffer(fd, 64 * 1024);
 * ```
 */
export function setReceiveBuffer(fd: number, bytes: number): void {
  if (setsockopt === undefined) {
    setsockopt = null;
    try {
      const ffi = builtin<BunFfi>("bun:ffi");
      setsockopt = ffi.dlopen("libc.so.6", {
        setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
      }).symbols.setsockopt;
    } catch (e) {
      console.error(
        `gatehouse: cannot size backend receive buffers here (${
          (e as Error)?.message ?? e
        }); the kernel sizes them`,
      );
    }
  }
  if (setsockopt === null) return;
  optionValue[0] = bytes;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, optionValue, 4) !== 0 && !setsockoptFailed) {
    setsockoptFailed = true;
    console.error(
      "gatehouse: setsockopt(SO_RCVBUF) failed on a backend connection; kept the kernel's size",
    );
  }
}
