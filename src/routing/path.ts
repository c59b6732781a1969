/**
 * Request-target handling: split path and query, normalize the path the way a
 * route must see it (RFC 3986 section 6: percent-encoded unreserved characters
 * decoded, dot-segments removed, repeated slashes merged).
 *
 * @module
 */

/** A request target taken apart. */
export interface Target {
  /** Normalized path, always starting with "/". */
  path: string;
  /** The query including its "?", or "" (passed through untouched). */
  query: string;
  /** Host from an absolute-form target (RFC 9112 3.2.2), else "". */
  authority: string;
}

/** True when the path needs no normalization (no "%", no ".", no "//"). */
function isPlain(path: string): boolean {
  let prevSlash = false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x25 || c === 0x2e) return false;
    if (c === 0x2f) {
      if (prevSlash) return false;
      prevSlash = true;
    } else prevSlash = false;
  }
  return true;
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Unreserved characters: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
    c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
}

/** Decode %XX of unreserved characters; upper-case the hex of the others. */
function decodeUnreserved(seg: string): string {
  if (seg.indexOf("%") < 0) return seg;
  let out = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c === 0x25 && i + 2 < seg.length) {
      const h = hex(seg.charCodeAt(i + 1)), l = hex(seg.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        const v = h * 16 + l;
        out += isUnreserved(v) ? String.fromCharCode(v) : seg.slice(i, i + 3).toUpperCase();
        i += 2;
        continue;
      }
    }
    out += seg[i];
  }
  return out;
}

/**
 * Normalize a path: "/public/../admin" becomes "/admin", "/a/./b//c" becomes
 * "/a/b/c", "/%2e%2e/x" becomes "/x". A path can never climb above "/".
 *
 * @example
 * ```ts
 * normalizePath("/public/../admin"); // "/admin"
 * ```
 */
export function normalizePath(path: string): string {
  if (isPlain(path)) return path;
  const parts = path.split("/");
  const out: string[] = [];
  let trailing = false;
  for (let i = 1; i < parts.length; i++) {
    const seg = decodeUnreserved(parts[i]);
    const last = i === parts.length - 1;
    if (seg === "." || seg === "..") {
      if (seg === "..") out.pop();
      trailing = last;
      continue;
    }
    if (seg === "") {
      trailing = last;
      continue;
    }
    out.push(seg);
    trailing = false;
  }
  if (out.length === 0) return "/";
  return "/" + out.join("/") + (trailing ? "/" : "");
}

/**
 * Split a request-target into normalized path, raw query and authority,
 * filled into `into` when given (a caller parsing many targets reuses one).
 * Returns null for a target that is neither origin-form, absolute-form nor "*".
 *
 * @example
 * ```ts
 * parseTarget("/a/../b?x=1"); // { path: "/b", query: "?x=1", authority: "" }
 * ```
 */
export function parseTarget(
  target: string,
  into: Target = { path: "", query: "", authority: "" },
): Target | null {
  let authority = "";
  let rest = target;
  if (target.charCodeAt(0) !== 0x2f) {
    if (target === "*") {
      into.path = "*";
      into.query = into.authority = "";
      return into;
    }
    const lower = target.slice(0, 8).toLowerCase();
    const schemeEnd = lower.startsWith("http://") ? 7 : lower.startsWith("https://") ? 8 : -1;
    if (schemeEnd < 0) return null;
    const slash = target.indexOf("/", schemeEnd);
    const q = target.indexOf("?", schemeEnd);
    const end = slash < 0 ? (q < 0 ? target.length : q) : (q >= 0 && q < slash ? q : slash);
    authority = target.slice(schemeEnd, end);
    if (authority.length === 0 || authority.includes("@")) return null;
    rest = end < target.length && target[end] === "/" ? target.slice(end) : "/" + target.slice(end);
  }
  const q = rest.indexOf("?");
  const rawPath = q < 0 ? rest : rest.slice(0, q);
  into.path = normalizePath(rawPath);
  into.query = q < 0 ? "" : rest.slice(q);
  into.authority = authority;
  return into;
}
