/**
 * Reloading the config file: on SIGHUP, and when the file's folder changes
 * (an editor's atomic rename, a Kubernetes ConfigMap's symlink swap, a plain
 * write), debounced so that a burst of events is one reload, and skipped
 * when the text is what is running already. Reloads run one at a time; a
 * change during one is read after it. A file that is missing or invalid
 * leaves the running configuration in place, with one log line saying why.
 *
 * @module
 */

import type { Runtime } from "../runtime/types.ts";
import { messageOf } from "../error_message.ts";

/** Wait this long after the last change in the folder before reading the file. */
export const RELOAD_DEBOUNCE_MS = 150;

/** What a reloader needs. */
export interface ReloaderOptions {
  runtime: Runtime;
  /** The config file's path. */
  path: string;
  /** The text the running configuration was read from. */
  text: string;
  /**
   * Apply a new text (parse, validate, swap in); returns the new
   * generation. Throws, changing nothing, when the text is refused.
   */
  apply(text: string, why: string): Promise<number>;
  log(line: string): void;
  /** Told of every reload's result (applied, or refused), for metrics. */
  outcome?(applied: boolean): void;
}

/** The folder a path is in ("." for a bare name). */
function folderOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

/**
 * Watches and reloads one config file.
 *
 * @example
 * ```ts
 * import { Reloader, type ReloaderOptions } from "./reload.ts";
 * declare const options: ReloaderOptions;
 * const reloader = new Reloader(options);
 * reloader.watch(); // reload on changes in the file's folder
 * await reloader.reload("SIGHUP", true); // and on demand
 * ```
 */
export class Reloader {
  readonly #o: ReloaderOptions;
  #text: string;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #watcher: { close(): void } | null = null;
  /** A reload is running; `#again` says another was asked for meanwhile. */
  #running: Promise<void> | null = null;
  #again: { why: string; force: boolean } | null = null;
  /** The last refusal logged, so a file that stays broken is reported once. */
  #lastRefusal = "";

  constructor(options: ReloaderOptions) {
    this.#o = options;
    this.#text = options.text;
  }

  /** The text running now. */
  get text(): string {
    return this.#text;
  }

  /** Reload after changes in the file's folder (debounced). Logs once if it cannot watch. */
  watch(): void {
    const folder = folderOf(this.#o.path);
    try {
      this.#watcher = this.#o.runtime.watchFolder(folder, () => this.#changed());
    } catch (e) {
      this.#o.log(
        `cannot watch ${folder} for changes to ${this.#o.path} (${
          messageOf(e)
        }); reload with SIGHUP`,
      );
    }
  }

  #changed(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.reload("the file changed", false), RELOAD_DEBOUNCE_MS);
  }

  /**
   * Read the file and apply it; `force` applies an unchanged text too (SIGHUP).
   * Resolves when this reload (and any asked for while it ran) is done.
   */
  reload(why: string, force: boolean): Promise<void> {
    if (this.#running !== null) {
      this.#again = { why, force: force || (this.#again?.force ?? false) };
      return this.#running;
    }
    this.#running = (async () => {
      let next: { why: string; force: boolean } | null = { why, force };
      while (next !== null) {
        this.#again = null;
        await this.#once(next.why, next.force);
        next = this.#again;
      }
      this.#running = null;
    })();
    return this.#running;
  }

  async #once(why: string, force: boolean): Promise<void> {
    const { runtime, path } = this.#o;
    let text: string;
    try {
      text = await runtime.readTextFile(path);
    } catch (e) {
      return this.#refused(`cannot read ${path}: ${messageOf(e)}`);
    }
    if (!force && text === this.#text) return;
    try {
      await this.#o.apply(text, why);
      this.#text = text;
      this.#lastRefusal = "";
    } catch (e) {
      return this.#refused(messageOf(e));
    }
    this.#o.outcome?.(true);
  }

  #refused(why: string): void {
    this.#o.outcome?.(false);
    // A broken file the editor is still writing changes again soon: one line per distinct reason.
    if (why === this.#lastRefusal) return;
    this.#lastRefusal = why;
    this.#o.log(`reload refused, the running config stays: ${why}`);
  }

  /** Stop watching. */
  close(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
  }
}
