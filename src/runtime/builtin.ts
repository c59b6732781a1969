/**
 * Node built-in modules loaded on first use.
 *
 * A static `import ... from "node:net"` is hoisted to the top of the
 * single-file build and loaded when the process starts, whether or not it
 * ever runs the code that needs it, and each module costs resident memory
 * (in the Bun executable node:net and node:crypto are about 3 MiB each,
 * node:dgram about 2). Modules that only some commands or options use (the
 * `register` sidecar, `--procs`, DNS and remote-Tower registries, Tower
 * signing) are loaded through {@link builtin} instead, so the plain ingress
 * does not carry them.
 *
 * @module
 */

interface BuiltinLoader {
  getBuiltinModule?(id: string): unknown;
}

/**
 * The built-in module `id` (e.g. "node:crypto"), loaded now if it was not
 * yet. Synchronous, so callers keep their shape. Throws when the runtime has
 * no such module.
 *
 * @example
 * ```ts
 * const { createHmac } = builtin<typeof import("node:crypto")>("node:crypto");
 * ```
 */
export function builtin<T>(id: string): T {
  const loader = (globalThis as { process?: BuiltinLoader }).process;
  const mod = loader?.getBuiltinModule?.(id);
  if (mod === undefined) throw new Error(`this runtime has no built-in module ${id}`);
  return mod as T;
}
