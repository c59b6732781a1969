/**
 * Tables as text: aligned columns for the console, Markdown for the
 * reports. Pure.
 * @module
 */

/**
 * A table as aligned plain text for the console: columns padded to their
 * widest cell, the `rightAligned` ones (numbers) to the right, a rule of
 * dashes under the head.
 *
 * @example
 * ```ts
 * alignedTable(["proxy", "req/s"], [["nginx", "83,066"]], new Set([1]));
 * // "proxy   req/s\n-----  ------\nnginx  83,066"
 * ```
 */
export function alignedTable(
  head: readonly string[],
  body: readonly (readonly string[])[],
  rightAligned: ReadonlySet<number>,
): string {
  const table = [head, ...body];
  const widths = head.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (r: readonly string[]) =>
    r.map((v, i) => rightAligned.has(i) ? v.padStart(widths[i]) : v.padEnd(widths[i]))
      .join("  ").trimEnd();
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)]
    .join("\n");
}

/**
 * A table in Markdown, `|` in cells escaped, the `rightAligned` columns
 * (numbers) aligned right.
 *
 * @example
 * ```ts
 * markdownTable(["proxy", "req/s"], [["nginx", "83,066"]], new Set([1]));
 * // "| proxy | req/s |\n| --- | ---: |\n| nginx | 83,066 |"
 * ```
 */
export function markdownTable(
  head: readonly string[],
  body: readonly (readonly string[])[],
  rightAligned: ReadonlySet<number>,
): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  const sep = head.map((_, i) => rightAligned.has(i) ? "---:" : "---");
  return [head, sep, ...body].map((r) => `| ${r.map(esc).join(" | ")} |`).join("\n");
}
