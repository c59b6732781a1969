/**
 * Reading Gatehouse's `/metrics` in tests: a scrape of the admin listener,
 * its series by their exact text (`name{labels}`, as Gatehouse writes
 * them), and the admin port from the ready line.
 *
 * @module
 */

import assert from "node:assert/strict";
import { request } from "./http.ts";
import { sleep } from "./backends.ts";

export { adminPort } from "./gatehouse.ts";

/** One scrape: the text, its content type, and every sample by series text. */
export interface Scrape {
  text: string;
  type: string;
  values: Map<string, number>;
}

/**
 * GET /metrics (with `token` as a bearer token, and `accept` when given).
 *
 * @example
 * ```ts
 * import { scrapeMetrics } from "./metrics.ts";
 * const { values } = await scrapeMetrics(9901);
 * values.get('gatehouse_requests_total{route="/",service="web",class="2xx",code="200"}');
 * ```
 */
export async function scrapeMetrics(
  port: number,
  opts: { token?: string; accept?: string } = {},
): Promise<Scrape> {
  const headers: Array<[string, string]> = [];
  if (opts.token !== undefined) headers.push(["Authorization", `Bearer ${opts.token}`]);
  if (opts.accept !== undefined) headers.push(["Accept", opts.accept]);
  const res = await request(port, { path: "/metrics", headers });
  assert.equal(res.status, 200, res.text);
  const values = new Map<string, number>();
  for (const line of res.text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return { text: res.text, type: res.headers["content-type"] ?? "", values };
}

/**
 * Scrape until `check` accepts the values (returns something other than
 * undefined), at most `ms`; fails naming `what` and the last scrape.
 *
 * @example
 * ```ts
 * import { scrapeUntil } from "./metrics.ts";
 * await scrapeUntil(9901, "a request", (v) => v.get("gatehouse_client_connections") === 0 || undefined);
 * ```
 */
export async function scrapeUntil<T>(
  port: number,
  what: string,
  check: (values: Map<string, number>) => T | undefined,
  ms = 10_000,
  token?: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (true) {
    const scrape = await scrapeMetrics(port, { token });
    const found = check(scrape.values);
    if (found !== undefined) return found;
    if (Date.now() > deadline) {
      assert.fail(`timed out after ${ms} ms waiting for ${what}; last scrape:\n${scrape.text}`);
    }
    await sleep(100);
  }
}
