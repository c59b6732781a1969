/**
 * A config file's text to plain values that remember their lines: YAML 1.2
 * (so JSON too) through the `js-yaml` package's event parser, every mapping
 * key and sequence item kept with the line it starts on, so that a mistake
 * can name the file, the line and the key. (js-yaml rather than the `yaml`
 * package: it reads a 1,000-route file in about 15 ms where `yaml` takes
 * 40-60 ms, and a reload's time is mostly this.)
 *
 * @module
 */

import { constructFromEvents, type Event, EVENT_ID, parseEvents } from "js-yaml";
import { ConfigError, type Problem } from "./errors.ts";

/** A plain value read from the file: a scalar, a list or a mapping. */
export type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

/** A collection being walked: where it is, its value, its keys, how many children so far. */
interface Frame {
  path: string;
  value: unknown;
  keys: string[] | null;
  children: number;
}

/** Where each line starts, to turn an offset into a line number. */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/** The 1-based line of `offset`. */
function lineAt(starts: number[], offset: number): number {
  let lo = 0, hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/** Where an event's node starts (its anchor, if it has one). */
function startOf(e: Event): number {
  const anchor = "anchorStart" in e ? e.anchorStart : -1;
  const own = "start" in e ? e.start : "valueStart" in e ? e.valueStart : anchor;
  return anchor >= 0 && anchor < own ? anchor : own;
}

/** A scalar the schema made into something else (a date, a big integer): its text. */
function plain(value: unknown): Plain {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return value;
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const out: { [key: string]: Plain } = {};
    for (const [k, v] of Object.entries(value as object)) out[k] = plain(v);
    return out;
  }
  return String(value);
}

/**
 * A YAML document read whole: its values, and the line of each key path
 * ("routes[2].strip-prefix").
 */
export class YamlTree {
  /** The file's name as the user gave it, for messages. */
  readonly file: string;
  /** The document's value. */
  readonly root: Plain;
  readonly #lines = new Map<string, number>();

  /**
   * Parse `text`; a syntax error, a repeated key or a second document is a
   * {@link ConfigError} naming `file` and the line.
   *
   * @example
   * ```ts
   * import { YamlTree } from "./yaml_tree.ts";
   * const tree = new YamlTree("g.yaml", "routes:\n  - prefix: /api\n    service: api\n");
   * tree.lineOf("routes[0].service"); // 3
   * ```
   */
  constructor(file: string, text: string) {
    this.file = file;
    let events: Event[];
    let docs: unknown[];
    try {
      events = parseEvents(text, { maxDepth: 32 });
      docs = constructFromEvents(events, { source: text });
    } catch (e) {
      const err = e as { reason?: string; message?: string; mark?: { line: number } };
      const line = (err.mark?.line ?? 0) + 1;
      const why = (err.reason ?? err.message ?? String(e)).split("\n")[0];
      throw new ConfigError(`${file}:${line}: ${why}`);
    }
    if (docs.length > 1) throw new ConfigError(`${file}: holds ${docs.length} documents; one only`);
    this.root = plain(docs[0] ?? null);
    this.#lines.set("", 1);
    this.#index(events, text);
  }

  /** Record the line of every key and sequence item, walking the events beside the values. */
  #index(events: Event[], text: string): void {
    const starts = lineStarts(text);
    const stack: Frame[] = [];
    let root = true;
    for (const e of events) {
      if (e.type === EVENT_ID.DOCUMENT) continue;
      if (e.type === EVENT_ID.POP) {
        stack.pop();
        continue;
      }
      // This node's path and value, from its parent.
      let path = "";
      let value: unknown = this.root;
      const parent = stack[stack.length - 1];
      if (parent !== undefined) {
        const n = parent.children++;
        if (parent.keys !== null) {
          const key = parent.keys[n >> 1];
          if (key === undefined) continue; // A merge key's extras: lines fall back to the parent.
          path = parent.path === "" ? key : `${parent.path}.${key}`;
          // A key: its line is the pair's; its value follows as the next child.
          if ((n & 1) === 0) {
            this.#lines.set(path, lineAt(starts, startOf(e)));
            continue;
          }
          value = (parent.value as Record<string, unknown>)?.[key];
        } else {
          path = `${parent.path}[${n}]`;
          this.#lines.set(path, lineAt(starts, startOf(e)));
          value = (parent.value as unknown[])?.[n];
        }
      } else if (!root) continue;
      root = false;
      if (e.type === EVENT_ID.MAPPING || e.type === EVENT_ID.SEQUENCE) {
        const keys = e.type === EVENT_ID.MAPPING && value !== null && typeof value === "object"
          ? Object.keys(value)
          : e.type === EVENT_ID.MAPPING
          ? []
          : null;
        stack.push({ path, value, keys, children: 0 });
      }
    }
  }

  /** The line of a key path, or of its nearest parent that has one. */
  lineOf(path: string): number {
    for (let p = path;;) {
      const line = this.#lines.get(p);
      if (line !== undefined) return line;
      const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
      if (cut <= 0) return 1;
      p = p.slice(0, cut);
    }
  }

  /**
   * How values under `path` report a problem: `file:line: path.key: message`.
   *
   * @example
   * ```ts
   * import { YamlTree } from "./yaml_tree.ts";
   * const tree = new YamlTree("g.yaml", "routes:\n  - prefix: api\n");
   * tree.problemAt("routes[0]")("prefix", 'must start with "/"');
   * // throws ConfigError: g.yaml:2: routes[0].prefix: must start with "/"
   * ```
   */
  problemAt(path: string): Problem {
    return (key: string, message: string): never => {
      const at = key === "" ? path : path === "" ? key : `${path}.${key}`;
      const where = at === "" ? "" : `${at}: `;
      throw new ConfigError(`${this.file}:${this.lineOf(at)}: ${where}${message}`);
    };
  }
}

/** True for a mapping (not a list, not a scalar). */
export function isMapping(value: unknown): value is { [key: string]: Plain } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
