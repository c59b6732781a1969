/**
 * A snapshot written out for a scraper: the Prometheus text format 0.0.4,
 * or OpenMetrics 1.0 when the scraper's Accept header prefers it (families
 * named without a counter's `_total`, `# UNIT` lines, `# EOF` at the end).
 *
 * @module
 */

import type { FamilySpec } from "./catalog.ts";
import { type HistogramValue, joinLabels, type SampleValue, type Snapshot } from "./snapshot.ts";

/** Which format a scrape gets. */
export type Format = "text" | "openmetrics";

/** Content-Type of each format. */
export const CONTENT_TYPES: Readonly<Record<Format, string>> = {
  text: "text/plain; version=0.0.4; charset=utf-8",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
};

/**
 * The format an Accept header asks for: OpenMetrics when it lists
 * `application/openmetrics-text` with a quality at least that of anything
 * else it accepts, the text format otherwise (and for no header).
 *
 * @example
 * ```ts
 * import { negotiate } from "./exposition.ts";
 * negotiate("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"); // "openmetrics"
 * negotiate("text/plain"); // "text"
 * ```
 */
export function negotiate(accept: string | undefined): Format {
  if (accept === undefined) return "text";
  let om = 0, other = 0;
  for (const part of accept.split(",")) {
    const [type, ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith("q="));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!(q > 0)) continue;
    if (type === "application/openmetrics-text") om = Math.max(om, q);
    else if (type !== "") other = Math.max(other, q);
  }
  return om > 0 && om >= other ? "openmetrics" : "text";
}

/** A HELP text escaped (OpenMetrics also escapes quotes). */
function escapeHelp(help: string, format: Format): string {
  const re = format === "openmetrics" ? /[\\"\n]/g : /[\\\n]/g;
  return help.replace(re, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/**
 * A number as both formats write it (Go's way: `+Inf`, `-Inf`, `NaN`).
 *
 * @example
 * ```ts
 * import { formatNumber } from "./exposition.ts";
 * formatNumber(0.25); // "0.25"
 * formatNumber(Infinity); // "+Inf"
 * ```
 */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

/** A bucket bound for `le`: OpenMetrics wants the canonical float ("1.0", not "1"). */
function formatBound(n: number, format: Format): string {
  const text = formatNumber(n);
  return format === "openmetrics" && Number.isInteger(n) && !/e/.test(text) ? `${text}.0` : text;
}

function series(name: string, labelText: string, value: string): string {
  return labelText === "" ? `${name} ${value}\n` : `${name}{${labelText}} ${value}\n`;
}

function writeHistogram(
  spec: FamilySpec,
  key: string,
  h: HistogramValue,
  format: Format,
  out: string[],
): void {
  const bounds = spec.buckets ?? [];
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += h.counts[i] ?? 0;
    const le = i < bounds.length ? formatBound(bounds[i], format) : "+Inf";
    out.push(series(`${spec.name}_bucket`, joinLabels(key, `le="${le}"`), String(cumulative)));
  }
  out.push(series(`${spec.name}_sum`, key, formatNumber(h.sum)));
  out.push(series(`${spec.name}_count`, key, String(h.count)));
}

/**
 * Write `snapshot` in `format`. Samples of a family are written sorted by
 * their labels, so a scrape reads the same from one time to the next.
 *
 * @example
 * ```ts
 * import { render } from "./exposition.ts";
 * import { family } from "./snapshot.ts";
 * import { CATALOG } from "./catalog.ts";
 * const f = family(CATALOG.retries);
 * f.samples.set('service="api"', 2);
 * render([f], "text");
 * // "# HELP gatehouse_retries_total ...\n# TYPE gatehouse_retries_total counter\n" +
 * // 'gatehouse_retries_total{service="api"} 2\n'
 * ```
 */
export function render(snapshot: Snapshot, format: Format): string {
  const out: string[] = [];
  for (const { spec, samples } of snapshot) {
    const counter = spec.type === "counter";
    // OpenMetrics names a counter's family without `_total`; the text format names its samples.
    const familyName = counter && format === "text" ? `${spec.name}_total` : spec.name;
    out.push(`# HELP ${familyName} ${escapeHelp(spec.help, format)}\n`);
    out.push(`# TYPE ${familyName} ${spec.type}\n`);
    if (format === "openmetrics" && spec.unit !== undefined) {
      out.push(`# UNIT ${familyName} ${spec.unit}\n`);
    }
    const keys = [...samples.keys()].sort();
    for (const key of keys) {
      const value = samples.get(key) as SampleValue;
      if (typeof value !== "number") writeHistogram(spec, key, value, format, out);
      else out.push(series(counter ? `${spec.name}_total` : spec.name, key, formatNumber(value)));
    }
  }
  if (format === "openmetrics") out.push("# EOF\n");
  return out.join("");
}
