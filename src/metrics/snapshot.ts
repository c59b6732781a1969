/**
 * What one scrape reads: every metric family with its samples, as plain
 * data. A process builds one from its own counters (metrics.ts); under
 * `--procs` the workers send theirs to the primary as one JSON line each,
 * and the primary sums them into its own ({@link mergeSnapshot}) before
 * rendering (exposition.ts).
 *
 * Labels are kept rendered (`route="/api",service="api"`): the text is the
 * series' key when snapshots are merged, and is written out as it is.
 *
 * @module
 */

import type { FamilySpec } from "./catalog.ts";

/** A histogram's state: counts per bucket (not cumulative; the last is above every bound), sum, count. */
export interface HistogramValue {
  counts: number[];
  sum: number;
  count: number;
}

/** A sample's value: a number (counter, gauge) or a histogram's state. */
export type SampleValue = number | HistogramValue;

/** One family and its samples by rendered labels ("" for none). */
export interface Family {
  readonly spec: FamilySpec;
  readonly samples: Map<string, SampleValue>;
}

/** Every family of one process (or of all, merged), in catalog order. */
export type Snapshot = Family[];

/**
 * Escape a label value for both exposition formats (backslash, quote, newline).
 *
 * @example
 * ```ts
 * import { escapeLabel } from "./snapshot.ts";
 * escapeLabel('a"b'); // 'a\\"b'
 * ```
 */
export function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/**
 * Render label pairs as they appear between braces, values escaped.
 *
 * @example
 * ```ts
 * import { labels } from "./snapshot.ts";
 * labels(["service", "api"], ["state", "healthy"]); // 'service="api",state="healthy"'
 * ```
 */
export function labels(...pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(",");
}

/**
 * Join two rendered label texts (either may be empty).
 *
 * @example
 * ```ts
 * import { joinLabels } from "./snapshot.ts";
 * joinLabels('proc="1"', 'service="api"'); // 'proc="1",service="api"'
 * ```
 */
export function joinLabels(a: string, b: string): string {
  return a === "" ? b : b === "" ? a : `${a},${b}`;
}

/**
 * An empty family for `spec`.
 *
 * @example
 * ```ts
 * import { family } from "./snapshot.ts";
 * import { CATALOG } from "./catalog.ts";
 * family(CATALOG.clientConnections).samples.size; // 0
 * ```
 */
export function family(spec: FamilySpec): Family {
  return { spec, samples: new Map() };
}

/** Add `value` (a number or a histogram) into `into` under `key`. */
function addInto(into: Map<string, SampleValue>, key: string, value: SampleValue): void {
  const had = into.get(key);
  if (had === undefined) {
    into.set(
      key,
      typeof value === "number" ? value : { ...value, counts: value.counts.slice() },
    );
  } else if (typeof had === "number" && typeof value === "number") {
    into.set(key, had + value);
  } else if (typeof had !== "number" && typeof value !== "number") {
    for (let i = 0; i < had.counts.length; i++) had.counts[i] += value.counts[i] ?? 0;
    had.sum += value.sum;
    had.count += value.count;
  }
}

/**
 * Merge the snapshot of process `proc` into `into`: families whose spec
 * merges by "sum" add up sample by sample (counters, histograms, and the
 * gauges where a total is right, such as connections); "proc" families keep
 * each process's samples apart under a `proc` label. Families `into` does
 * not hold are added.
 *
 * @example
 * ```ts
 * import { family, mergeSnapshot } from "./snapshot.ts";
 * import { CATALOG } from "./catalog.ts";
 * const a = family(CATALOG.clientConnections);
 * a.samples.set("", 3);
 * const b = family(CATALOG.clientConnections);
 * b.samples.set("", 4);
 * const all = [a];
 * mergeSnapshot(all, [b], 1);
 * all[0].samples.get(""); // 7
 * ```
 */
export function mergeSnapshot(into: Snapshot, from: Snapshot, proc: number): void {
  for (const f of from) {
    let target = into.find((g) => g.spec.name === f.spec.name);
    if (target === undefined) into.push(target = family(f.spec));
    const procLabel = f.spec.merge === "proc" ? labels(["proc", String(proc)]) : "";
    for (const [key, value] of f.samples) {
      addInto(target.samples, joinLabels(procLabel, key), value);
    }
  }
}

/**
 * A process's own snapshot with its `proc` label on the families kept per
 * process (what {@link mergeSnapshot} does to the others).
 *
 * @example
 * ```ts
 * import { family, labelled } from "./snapshot.ts";
 * import { CATALOG } from "./catalog.ts";
 * const rss = family(CATALOG.residentMemory);
 * rss.samples.set("", 1024);
 * labelled([rss], 0)[0].samples.get('proc="0"'); // 1024
 * ```
 */
export function labelled(snapshot: Snapshot, proc: number): Snapshot {
  const out: Snapshot = [];
  mergeSnapshot(out, snapshot, proc);
  return out;
}

/**
 * A snapshot as one line of JSON (what a `--procs` worker sends): each
 * family's name and samples; the receiver has the same catalog.
 *
 * @example
 * ```ts
 * import { family, serializeSnapshot } from "./snapshot.ts";
 * import { CATALOG } from "./catalog.ts";
 * const f = family(CATALOG.clientConnections);
 * f.samples.set("", 2);
 * serializeSnapshot([f]); // '[["gatehouse_client_connections",[["",2]]]]'
 * ```
 */
export function serializeSnapshot(snapshot: Snapshot): string {
  return JSON.stringify(snapshot.map((f) => [f.spec.name, [...f.samples]]));
}

/**
 * Read a {@link serializeSnapshot} line back, with the specs of `catalog`;
 * families it does not know, and malformed samples, are left out. Throws
 * on text that is not JSON.
 *
 * @example
 * ```ts
 * import { parseSnapshot } from "./snapshot.ts";
 * import { CATALOG } from "./catalog.ts";
 * const [f] = parseSnapshot('[["gatehouse_client_connections",[["",2]]]]', Object.values(CATALOG));
 * f.samples.get(""); // 2
 * ```
 */
export function parseSnapshot(text: string, catalog: readonly FamilySpec[]): Snapshot {
  const data = JSON.parse(text) as unknown;
  if (!Array.isArray(data)) return [];
  const out: Snapshot = [];
  for (const entry of data) {
    if (!Array.isArray(entry) || !Array.isArray(entry[1])) continue;
    const spec = catalog.find((s) => s.name === entry[0]);
    if (spec === undefined) continue;
    const f = family(spec);
    for (const sample of entry[1] as unknown[]) {
      if (!Array.isArray(sample) || typeof sample[0] !== "string") continue;
      const value = sample[1] as unknown;
      if (spec.type === "histogram") {
        const h = value as HistogramValue;
        if (
          h !== null && typeof h === "object" && Array.isArray(h.counts) &&
          h.counts.length === (spec.buckets?.length ?? 0) + 1 &&
          h.counts.every((c) => typeof c === "number") &&
          typeof h.sum === "number" && typeof h.count === "number"
        ) f.samples.set(sample[0], { counts: h.counts, sum: h.sum, count: h.count });
      } else if (typeof value === "number") f.samples.set(sample[0], value);
    }
    out.push(f);
  }
  return out;
}
