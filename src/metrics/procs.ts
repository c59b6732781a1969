/**
 * `--procs N`: one scrape of the primary shows the whole ingress. The
 * primary asks every worker for its snapshot down the pipe that already
 * carries the Tower's changes (a line `M|<seq>` on the worker's stdin);
 * each worker answers on its stdout, which the supervisor already reads
 * (for the ready line), with one line `M|<seq>|<JSON snapshot>`. The
 * primary waits for every running worker, at most a bounded time (500 ms
 * by default), and merges what came: a worker that is starting, stuck or
 * gone costs the scrape its numbers, never the scrape.
 *
 * @module
 */

import { FAMILIES } from "./catalog.ts";
import { parseSnapshot, serializeSnapshot, type Snapshot } from "./snapshot.ts";

const PREFIX = "M|";

/**
 * A worker's answer to `line` when it is a scrape request (`M|<seq>`):
 * `M|<seq>|<snapshot>`, without a newline; null for any other line.
 *
 * @example
 * ```ts
 * import { workerAnswer } from "./procs.ts";
 * workerAnswer("M|7", () => []); // "M|7|[]"
 * workerAnswer("R|web|10.0.0.7|8080|0", () => []); // null
 * ```
 */
export function workerAnswer(line: string, snapshot: () => Snapshot): string | null {
  const m = /^M\|(\d+)\s*$/.exec(line);
  if (m === null) return null;
  return `${PREFIX}${m[1]}|${serializeSnapshot(snapshot())}`;
}

interface Asking {
  readonly seq: number;
  readonly answers: Map<number, Snapshot>;
  readonly expected: number;
  done(): void;
}

/**
 * The primary's side: asks the workers and gathers their snapshots.
 *
 * @example
 * ```ts
 * import { WorkerScrapes } from "./procs.ts";
 * const lines: string[] = [];
 * const scrapes = new WorkerScrapes((line) => lines.push(line), () => 1);
 * const asked = scrapes.ask(500); // lines: ["M|1\n"]
 * scrapes.heard(1, "M|1|[]"); // worker 1 answered: asked resolves with Map { 1 => [] }
 * ```
 */
export class WorkerScrapes {
  readonly #send: (line: string) => void;
  readonly #workers: () => number;
  readonly #asking = new Map<number, Asking>();
  #seq = 0;

  /** `send`: a line to every worker; `workers`: how many run now. */
  constructor(send: (line: string) => void, workers: () => number) {
    this.#send = send;
    this.#workers = workers;
  }

  /**
   * Every running worker's snapshot by worker number (1..N-1), as many as
   * answered within `timeoutMs`.
   */
  ask(timeoutMs = 500): Promise<Map<number, Snapshot>> {
    const expected = this.#workers();
    if (expected === 0) return Promise.resolve(new Map());
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      const answers = new Map<number, Snapshot>();
      const done = () => {
        clearTimeout(timer);
        this.#asking.delete(seq);
        resolve(answers);
      };
      const timer = setTimeout(done, timeoutMs);
      this.#asking.set(seq, { seq, answers, expected, done });
      this.#send(`${PREFIX}${seq}\n`);
    });
  }

  /**
   * A line worker `worker` wrote on stdout: true when it was an answer
   * (taken if its scrape still waits, dropped if not or unreadable).
   */
  heard(worker: number, line: string): boolean {
    if (!line.startsWith(PREFIX)) return false;
    const bar = line.indexOf("|", PREFIX.length);
    if (bar < 0) return true;
    const asking = this.#asking.get(Number(line.slice(PREFIX.length, bar)));
    if (asking === undefined) return true;
    try {
      asking.answers.set(worker, parseSnapshot(line.slice(bar + 1), FAMILIES));
    } catch {
      return true;
    }
    if (asking.answers.size >= asking.expected) asking.done();
    return true;
  }
}
