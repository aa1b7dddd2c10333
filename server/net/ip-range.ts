// IP addresses and CIDR ranges, and the policy deciding which addresses an
// outbound request may connect to (Synapse's ip_range_blacklist/whitelist).
// Pure: no sockets here, so the rules are unit-tested on their own.
//
// IPv6 forms that embed an IPv4 address (IPv4-mapped ::ffff:a.b.c.d,
// IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d) are judged by the IPv4
// address they carry, so ::ffff:127.0.0.1 is as blocked as 127.0.0.1.

export interface IpAddress {
  readonly family: 4 | 6;
  /** The address as an unsigned integer of 32 or 128 bits. */
  readonly value: bigint;
}

export interface IpRange {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly prefix: number;
  /** As configured, for error messages and logs. */
  readonly text: string;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

function parseIpv4(text: string): bigint | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  let value = 0n;
  for (const part of m.slice(1)) {
    // Leading zeros are refused: some parsers read them as octal.
    if (part.length > 1 && part.startsWith("0")) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  // A zone index (fe80::1%eth0) names an interface; the address is what is checked.
  const address = text.includes("%") ? text.slice(0, text.indexOf("%")) : text;
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(address)) return undefined;
  const gap = address.indexOf("::");
  if (gap !== -1 && address.indexOf("::", gap + 1) !== -1) return undefined;
  const head = gap === -1 ? address : address.slice(0, gap);
  const tail = gap === -1 ? "" : address.slice(gap + 2);
  const groups = (part: string): bigint[] | undefined => {
    if (part === "") return [];
    const out: bigint[] = [];
    const pieces = part.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (HEX_GROUP.test(piece)) out.push(BigInt(`0x${piece}`));
      else if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push(v4 >> 16n, v4 & 0xffffn);
      } else return undefined;
    }
    return out;
  };
  const first = groups(head);
  const last = groups(tail);
  if (!first || !last) return undefined;
  // A dotted quad may only end the address.
  if (gap !== -1 && head.includes(".")) return undefined;
  const missing = 8 - first.length - last.length;
  if (gap === -1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...first, ...Array<bigint>(gap === -1 ? 0 : missing).fill(0n), ...last];
  return all.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** Parses an IPv4 or IPv6 literal (brackets allowed around IPv6), or undefined. */
export function parseIp(text: string): IpAddress | undefined {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v4 = parseIpv4(bare);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = bare.includes(":") ? parseIpv6(bare) : undefined;
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

const MAPPED_PREFIX = 0xffffn << 32n; // ::ffff:0:0/96
const NAT64_PREFIX = 0x0064ff9bn << 96n; // 64:ff9b::/96
const LOW_96 = (1n << 96n) - 1n;
const LOW_32 = (1n << 32n) - 1n;

/** The IPv4 address an IPv6 address carries (mapped, compatible or NAT64 forms), if any. */
export function embeddedIpv4(ip: IpAddress): IpAddress | undefined {
  if (ip.family !== 6) return undefined;
  const high = ip.value >> 32n;
  const low = ip.value & LOW_32;
  if (high === MAPPED_PREFIX >> 32n) return { family: 4, value: low };
  if ((ip.value & ~LOW_96) === NAT64_PREFIX) return { family: 4, value: low };
  // ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1 themselves.
  if (high === 0n && low > 1n) return { family: 4, value: low };
  return undefined;
}

/** Parses "a.b.c.d/n", "x::y/n" or a single address (a /32 or /128). Throws on anything else. */
export function parseIpRange(text: string): IpRange {
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const ip = parseIp(addressText.trim());
  if (!ip) throw new Error(`not an IP address or range: ${JSON.stringify(text)}`);
  const bits = ip.family === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(bits) : text.slice(slash + 1).trim();
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) throw new Error(`bad prefix length in ${JSON.stringify(text)}`);
  const prefix = Number(prefixText);
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return { family: ip.family, base: ip.value & mask, prefix, text };
}

export function rangeContains(range: IpRange, ip: IpAddress): boolean {
  if (range.family !== ip.family) return false;
  const bits = ip.family === 4 ? 32 : 128;
  const shift = BigInt(bits - range.prefix);
  return ip.value >> shift === range.base >> shift;
}

/**
 * Addresses no federation, preview or push request should reach by default
 * (Synapse's default ip_range_blacklist plus the other IANA special-purpose
 * blocks): private, loopback, link-local, CGNAT, documentation, benchmarking,
 * multicast, reserved, ULA and site-local.
 */
export const DEFAULT_IP_RANGE_BLOCKLIST: readonly string[] = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.88.99.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "240.0.0.0/4",
  "::1/128",
  "fe80::/10",
  "fc00::/7",
  "2001:db8::/32",
  "ff00::/8",
  "fec0::/10",
];

/** Always refused, whatever the configuration: the unspecified addresses connect to this host. */
const ALWAYS_BLOCKED: readonly string[] = ["0.0.0.0/32", "::/128"];

export interface AddressPolicy {
  /** Undefined when `address` may be connected to; otherwise the reason. */
  refusal(address: string): string | undefined;
}

/**
 * An address is refused when a blocklist range contains it and no allowlist
 * range does (the allowlist carves exceptions out of the blocklist, as in
 * Synapse). Something that is not an IP address is refused too.
 */
export function createAddressPolicy(options: { blocklist?: readonly string[]; allowlist?: readonly string[] } = {}): AddressPolicy {
  const blocked = [...(options.blocklist ?? DEFAULT_IP_RANGE_BLOCKLIST), ...ALWAYS_BLOCKED].map(parseIpRange);
  const allowed = (options.allowlist ?? []).map(parseIpRange);
  const judge = (ip: IpAddress): IpRange | undefined => {
    if (allowed.some((r) => rangeContains(r, ip))) return undefined;
    return blocked.find((r) => rangeContains(r, ip));
  };
  return {
    refusal(address) {
      const ip = parseIp(address);
      if (!ip) return `${JSON.stringify(address)} is not an IP address`;
      const inner = embeddedIpv4(ip);
      const hit = judge(ip) ?? (inner ? judge(inner) : undefined);
      return hit ? `${address} is in the blocked range ${hit.text}` : undefined;
    },
  };
}
