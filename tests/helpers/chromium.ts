/**
 * Headless Chromium for end-to-end tests of the dashboard, driven over the
 * DevTools protocol on the runtime's own WebSocket (no dependency: the few
 * commands a test needs are a JSON message each).
 *
 * The browser is Debian's `chromium` (the suite installs it when missing).
 * Its `/usr/bin/chromium` is a shell wrapper that runs
 * `/usr/lib/chromium/chromium` by absolute path, which is not where a
 * non-root unpack into `.cache/debian` puts it: the binary beside the
 * wrapper's `../lib/chromium/` is started directly when it is there.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import process from "node:process";
import { Buffer } from "node:buffer";

/** The Chromium executable: $CHROMIUM_BIN, else the real binary behind `chromium` on PATH. */
export function chromiumPath(): string | undefined {
  const given = process.env.CHROMIUM_BIN;
  if (given) return given;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const wrapper = join(dir, "chromium");
    if (!existsSync(wrapper)) continue;
    const real = join(dirname(realpathSync(wrapper)), "..", "lib", "chromium", "chromium");
    return existsSync(real) ? real : wrapper;
  }
  return undefined;
}

/** A page in the browser. */
export interface Page {
  /** Load `url` and wait for its load event. */
  goto(url: string): Promise<void>;
  /** The value of a JavaScript expression in the page (promises awaited). */
  evaluate<T>(expression: string): Promise<T>;
  /** Poll `expression` until it is truthy (every 100 ms); its value. */
  waitFor<T>(expression: string, timeoutMs?: number): Promise<T>;
  /** A PNG of the viewport. */
  screenshot(): Promise<Uint8Array>;
}

/** A running headless browser. */
export interface Browser {
  newPage(width?: number, height?: number): Promise<Page>;
  close(): Promise<void>;
}

interface Pending {
  resolve(value: Record<string, unknown>): void;
  reject(e: Error): void;
}

/**
 * Start headless Chromium and connect to it.
 *
 * @example
 * ```ts
 * import { launchChromium } from "./chromium.ts";
 * const browser = await launchChromium();
 * const page = await browser.newPage();
 * await page.goto("http://127.0.0.1:9901/");
 * await browser.close();
 * ```
 */
export async function launchChromium(): Promise<Browser> {
  const bin = chromiumPath();
  if (bin === undefined) throw new Error("chromium is not installed (Debian package chromium)");
  const profile = mkdtempSync(join(tmpdir(), "gatehouse-chromium-"));
  const proc: ChildProcess = spawn(bin, [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    `--user-data-dir=${profile}`,
    "about:blank",
  ], { stdio: ["ignore", "ignore", "pipe"] });
  const wsUrl = await new Promise<string>((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${err}`)), 30_000);
    proc.stderr!.on("data", (chunk: Buffer) => {
      err += chunk.toString("utf8");
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited (${code}):\n${err}`));
    });
  });
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`cannot connect to ${wsUrl}`));
  });
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const listeners = new Set<(method: string, sessionId: string | undefined) => void>();
  ws.onmessage = (event) => {
    const msg = JSON.parse(String(event.data));
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
      else p?.resolve(msg.result ?? {});
    } else for (const l of listeners) l(msg.method, msg.sessionId);
  };
  const send = (method: string, params: object = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });

  return {
    async newPage(width = 1200, height = 800): Promise<Page> {
      const { targetId } = await send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true }) as {
        sessionId: string;
      };
      await send("Page.enable", {}, sessionId);
      await send("Emulation.setDeviceMetricsOverride", {
        width,
        height,
        deviceScaleFactor: 1,
        mobile: false,
      }, sessionId);
      const evaluate = async <T>(expression: string): Promise<T> => {
        const r = await send("Runtime.evaluate", {
          expression,
          returnByValue: true,
          awaitPromise: true,
        }, sessionId) as { result: { value: T }; exceptionDetails?: { text: string } };
        if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
        return r.result.value;
      };
      return {
        async goto(url: string) {
          const loaded = new Promise<void>((resolve) => {
            const l = (method: string, sid: string | undefined) => {
              if (method === "Page.loadEventFired" && sid === sessionId) {
                listeners.delete(l);
                resolve();
              }
            };
            listeners.add(l);
          });
          await send("Page.navigate", { url }, sessionId);
          await loaded;
        },
        evaluate,
        async waitFor<T>(expression: string, timeoutMs = 10_000): Promise<T> {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const v = await evaluate<T>(expression);
            if (v) return v;
            if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        },
        async screenshot() {
          const { data } = await send("Page.captureScreenshot", { format: "png" }, sessionId);
          return new Uint8Array(Buffer.from(data as string, "base64"));
        },
      };
    },
    async close() {
      await send("Browser.close").catch(() => {});
      ws.close();
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
