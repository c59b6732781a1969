/**
 * Readiness checks over raw TCP (Deno): one `Connection: close` GET, so the
 * check leaves no pooled connection behind on the proxy under test.
 * @module
 */

/** What a probe saw. */
export interface ProbeResult {
  status: number;
  /** Everything after the head (not de-chunked; fine for a substring check). */
  body: string;
}

/**
 * Sends `GET path` to 127.0.0.1:`port` and reads the reply to EOF.
 *
 * @example
 * ```ts
 * const r = await probe(18081, "/", 1000);
 * if (r.status === 200) console.log("ready");
 * ```
 * @throws when the connection fails or `timeoutMs` passes.
 */
export async function probe(port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }, timeoutMs);
  try {
    const req =
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: gatehouse-bench\r\n` +
      "Connection: close\r\n\r\n";
    await conn.write(new TextEncoder().encode(req));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const text = new TextDecoder().decode(concat(chunks));
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
    if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 80))}`);
    const headEnd = text.indexOf("\r\n\r\n");
    return { status: Number(m[1]), body: headEnd < 0 ? "" : text.slice(headEnd + 4) };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer or the peer.
    }
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * True when 127.0.0.1:`port` can be bound right now (nothing listens).
 *
 * @example
 * ```ts
 * import { tcpPortFree } from "./probe.ts";
 * declare function startServerOn(port: number): void;
 * if (tcpPortFree(18080)) startServerOn(18080);
 * ```
 */
export function tcpPortFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}
