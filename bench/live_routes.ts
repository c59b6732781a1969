/**
 * `deno task bench:routes`: how fast route changes take effect.
 *
 * 1. Reload: a 1,000-route config file (hosts, prefixes, rules) reloaded by
 *    SIGHUP, alternating with a version where 10 routes differ; the time from
 *    the signal to the "config generation N" log line (read, parse,
 *    validate, build the table, swap), over BENCH_RELOADS reloads.
 * 2. etcd: a route PUT under `<prefix>/routes/` until a request to it is
 *    answered by its service (polling every millisecond on fresh
 *    connections), over BENCH_ROUTE_PUTS routes; needs `etcd` on PATH or in
 *    .cache/debian (the test suite installs it).
 *
 * Runs the compiled binary (dist/gatehouse; `./compile.sh` first). Prints a
 * table; the README's "Live routes" section records the last run.
 *
 * @example
 * ```sh
 * ./compile.sh && deno task bench:routes
 * ```
 * @module
 */

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
const RELOADS = Number(Deno.env.get("BENCH_RELOADS") ?? "30");
const PUTS = Number(Deno.env.get("BENCH_ROUTE_PUTS") ?? "30");
const BIN = `${ROOT}/dist/gatehouse`;

/** A 1,000-route config: 20 hosts x 49 prefixes, a catch-all, some with rules. */
export function thousandRoutes(variant: number): string {
  const lines = ["tower-listen: 127.0.0.1:0", "routes:"];
  for (let h = 0; h < 20; h++) {
    for (let p = 0; p < 49; p++) {
      // The variant changes which service 10 of the routes name.
      const service = h === 0 && p < 10 ? `svc-${variant}-${p}` : `svc-${h}-${p % 7}`;
      const rules = p % 10 === 0 ? ", strip-prefix: true" : "";
      lines.push(
        `  - { host: h${h}.example.com, prefix: /api/v${p}, service: ${service}${rules} }`,
      );
    }
  }
  for (let i = 0; i < 19; i++) lines.push(`  - { prefix: /any/${i}, service: any-${i} }`);
  lines.push("  - { prefix: /, service: web }");
  return lines.join("\n") + "\n";
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function summary(name: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(1);
  return `| ${name} | ${s.length} | ${f(percentile(s, 0.5))} ms | ${f(percentile(s, 0.9))} ms | ${
    f(s[s.length - 1])
  } ms |`;
}

/** A started binary whose stderr is read line by line. */
function start(args: string[]) {
  const child = new Deno.Command(BIN, { args, stdout: "piped", stderr: "piped" }).spawn();
  const waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = [];
  const seen: string[] = [];
  const read = async (stream: ReadableStream<Uint8Array>) => {
    let partial = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      partial += chunk;
      let nl;
      while ((nl = partial.indexOf("\n")) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        seen.push(line);
        for (const w of [...waiters]) {
          if (w.re.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  };
  read(child.stdout);
  read(child.stderr);
  const line = (re: RegExp, timeoutMs = 30_000) => {
    const found = seen.find((l) => re.test(l));
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no line ${re} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  };
  return { child, line, seen };
}

async function benchReload(): Promise<number[]> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/gatehouse.yaml`;
  await Deno.writeTextFile(file, thousandRoutes(0));
  const gh = start(["--config", file, "--listen", "127.0.0.1:0"]);
  await gh.line(/listening on/);
  const times: number[] = [];
  try {
    for (let i = 1; i <= RELOADS; i++) {
      await Deno.writeTextFile(file, thousandRoutes(i % 2));
      // Let the folder watch's own reload (150 ms debounce) pass, so SIGHUP's is measured alone.
      await new Promise((r) => setTimeout(r, 400));
      const before = gh.seen.filter((l) => l.includes("config generation")).length;
      const t0 = performance.now();
      gh.child.kill("SIGHUP");
      const want = new RegExp(`config generation ${before + 2}: SIGHUP`);
      await gh.line(want);
      times.push(performance.now() - t0);
    }
  } finally {
    gh.child.kill("SIGKILL");
    await gh.child.status;
    await Deno.remove(dir, { recursive: true });
  }
  return times;
}

/** A request's status through `port` for `path`, on a fresh connection (0: none). */
async function statusOf(port: number, path: string): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      headers: { connection: "close" },
    });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

async function benchEtcdRoutes(): Promise<number[]> {
  const { startEtcdCluster } = await import("../tests/helpers/etcd.ts");
  const etcd = await startEtcdCluster({ size: 1, basePort: 23790 });
  // The service the routes point at: one replica that answers 200.
  const backend = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => new Response("ok"),
  );
  const times: number[] = [];
  const gh = start([
    "--registry",
    etcd.url("/bench"),
    "--listen",
    "127.0.0.1:0",
    "--route",
    "/:none",
  ]);
  try {
    const port = Number((await gh.line(/listening on/)).match(/:(\d+)$/)![1]);
    await etcd.put(`/bench/svc/127.0.0.1:${backend.addr.port}`, `127.0.0.1:${backend.addr.port}`);
    for (let i = 0; i < PUTS; i++) {
      const path = `/r${i}`;
      const t0 = performance.now();
      await etcd.put(`/bench/routes/r${i}`, JSON.stringify({ prefix: path, service: "svc" }));
      while ((await statusOf(port, path)) !== 200) {
        if (performance.now() - t0 > 10_000) throw new Error(`route ${path} not routable in 10 s`);
        await new Promise((r) => setTimeout(r, 1));
      }
      times.push(performance.now() - t0);
    }
  } finally {
    gh.child.kill("SIGKILL");
    await gh.child.status;
    await backend.shutdown();
    await etcd.stop();
  }
  return times;
}

if (import.meta.main) {
  const rows = ["| measure | runs | median | p90 | max |", "|---|---:|---:|---:|---:|"];
  rows.push(summary("reload of a 1,000-route file (SIGHUP to swapped in)", await benchReload()));
  rows.push(
    summary("route PUT into etcd until a request to it is answered", await benchEtcdRoutes()),
  );
  console.log(rows.join("\n"));
}
