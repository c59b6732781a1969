/**
 * CIDR lists (`127.0.0.0/8,10.0.0.0/8,::1/128`) and membership tests, for
 * `--trusted-proxies` and the Tower's allowlist.
 *
 * @module
 */

/** Parse an IPv4 or IPv6 literal to 16 bytes (IPv4 mapped into ::ffff:0:0/96), or null. */
export function parseIp(text: string): Uint8Array | null {
  let s = text;
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  const out = new Uint8Array(16);
  if (!s.includes(":")) {
    const v4 = parseIpv4(s);
    if (!v4) return null;
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(v4, 12);
    return out;
  }
  let tail: number[] = [];
  const dot = s.lastIndexOf(".");
  if (dot >= 0) {
    const c = s.lastIndexOf(":");
    const v4 = parseIpv4(s.slice(c + 1));
    if (!v4) return null;
    s = s.slice(0, c + 1) + "0:0";
    tail = [...v4];
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const rest = halves.length === 2 ? (halves[1] === "" ? [] : halves[1].split(":")) : [];
  const groups = head.length + rest.length;
  if (halves.length === 1 ? groups !== 8 : groups > 7) return null;
  const all = [...head, ...new Array(8 - groups).fill("0"), ...rest];
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(all[i])) return null;
    const v = parseInt(all[i], 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  if (tail.length) out.set(tail, 12);
  return out;
}

function parseIpv4(s: string): number[] | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

/** One network: address bytes and prefix length over the 128-bit form. */
interface Network {
  addr: Uint8Array;
  bits: number;
}

/**
 * A set of networks.
 *
 * @example
 * ```ts
 * const trusted = CidrList.parse("127.0.0.0/8,::1/128");
 * trusted.contains("127.0.0.1"); // true
 * ```
 */
export class CidrList {
  readonly #nets: Network[];
  readonly #cache = new Map<string, boolean>();
  /** The list as written. */
  readonly source: string;

  private constructor(nets: Network[], source: string) {
    this.#nets = nets;
    this.source = source;
  }

  /** Parse a comma-separated list; throws an Error naming the bad entry. */
  static parse(text: string): CidrList {
    const nets: Network[] = [];
    for (const raw of text.split(",")) {
      const entry = raw.trim();
      if (entry === "") continue;
      const slash = entry.indexOf("/");
      const ipText = slash < 0 ? entry : entry.slice(0, slash);
      const addr = parseIp(ipText);
      if (!addr) throw new Error(`invalid CIDR "${entry}": not an IP address`);
      const v4 = !ipText.includes(":");
      const max = v4 ? 32 : 128;
      const bitsText = slash < 0 ? String(max) : entry.slice(slash + 1);
      if (!/^[0-9]{1,3}$/.test(bitsText) || Number(bitsText) > max) {
        throw new Error(`invalid CIDR "${entry}": prefix length must be 0-${max}`);
      }
      nets.push({ addr, bits: Number(bitsText) + (v4 ? 96 : 0) });
    }
    return new CidrList(nets, text);
  }

  /** True when no network is listed. */
  get empty(): boolean {
    return this.#nets.length === 0;
  }

  /** True when `ip` falls in one of the networks. */
  contains(ip: string): boolean {
    if (this.#nets.length === 0) return false;
    const cached = this.#cache.get(ip);
    if (cached !== undefined) return cached;
    const addr = parseIp(ip);
    let found = false;
    if (addr) {
      for (const n of this.#nets) {
        if (inNetwork(addr, n)) {
          found = true;
          break;
        }
      }
    }
    if (this.#cache.size > 4096) this.#cache.clear();
    this.#cache.set(ip, found);
    return found;
  }
}

function inNetwork(addr: Uint8Array, net: Network): boolean {
  let bits = net.bits;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i] & mask) !== (net.addr[i] & mask)) return false;
  }
  return true;
}
