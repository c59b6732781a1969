/**
 * A config file's text to plain values that remember their lines: YAML 1.2
 * (so JSON too) through the `yaml` package, every mapping key and sequence
 * item kept with the line it starts on, so that a mistake can name the
 * file, the line and the key.
 *
 * @module
 */

import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { ConfigError, type Problem } from "./errors.ts";

/** A plain value read from the file: a scalar, a list or a mapping. */
export type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

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
   * Parse `text`; a syntax error, a repeated key or an anchor loop is a
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
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
    const error = doc.errors[0];
    if (error !== undefined) {
      const line = lines.linePos(error.pos[0]).line;
      throw new ConfigError(`${file}:${line}: ${error.message.split("\n")[0]}`);
    }
    const lineOf = (node: Node | null | undefined) =>
      node?.range ? lines.linePos(node.range[0]).line : 1;
    const walk = (node: unknown, path: string, depth: number): Plain => {
      if (depth > 32) throw new ConfigError(`${file}:${lineOf(node as Node)}: nested too deep`);
      if (isMap(node)) {
        const out: { [key: string]: Plain } = {};
        for (const pair of node.items) {
          const keyNode = pair.key as Node | null;
          const key = isScalar(keyNode) ? String(keyNode.value) : null;
          if (key === null) {
            throw new ConfigError(`${file}:${lineOf(keyNode)}: keys must be plain words`);
          }
          const at = path === "" ? key : `${path}.${key}`;
          this.#lines.set(at, lineOf(keyNode));
          out[key] = walk(pair.value, at, depth + 1);
        }
        return out;
      }
      if (isSeq(node)) {
        return node.items.map((item, i) => {
          const at = `${path}[${i}]`;
          this.#lines.set(at, lineOf(item as Node));
          return walk(item, at, depth + 1);
        });
      }
      if (isScalar(node)) {
        const v = node.value;
        if (v === null || typeof v === "string" || typeof v === "boolean") return v;
        if (typeof v === "number") return v;
        return String(v);
      }
      if (node === null || node === undefined) return null;
      // An alias: its target's value (yaml resolves it), checked the same way.
      return walk((node as { resolve(doc: unknown): unknown }).resolve(doc), path, depth + 1);
    };
    this.root = walk(doc.contents, "", 0);
    this.#lines.set("", 1);
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
