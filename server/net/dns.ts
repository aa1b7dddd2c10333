// DNS look-ups for outbound connections: SRV records and the addresses of a
// host. With `servers` configured (federation.dns_servers) every query goes to
// them, so tests can run their own DNS server; otherwise SRV goes to the
// system's resolvers and addresses come from getaddrinfo (so /etc/hosts works).
import { promises as dns } from "node:dns";

export interface SrvTarget {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface DnsResolver {
  /** SRV records of `name`, best first; [] when the name has none. */
  resolveSrv(name: string): Promise<SrvTarget[]>;
  /** Every A and AAAA address of `host`; throws (code ENOTFOUND) when there is none. */
  lookupAddresses(host: string): Promise<ResolvedAddress[]>;
}

/** Answers that mean "no such record", as opposed to a failing DNS server. */
const NO_RECORD = new Set(["ENOTFOUND", "ENODATA", "ENONAME", "NXDOMAIN"]);

function noRecord(err: unknown): boolean {
  return NO_RECORD.has((err as NodeJS.ErrnoException).code ?? "");
}

/**
 * RFC 2782 order: lowest priority first; within one priority a weighted random
 * pick, so load spreads as the operator asked. A single "." target means the
 * service is explicitly not offered.
 */
export function orderSrv(records: readonly SrvTarget[], random: () => number = Math.random): SrvTarget[] {
  if (records.length === 1 && (records[0]!.name === "" || records[0]!.name === ".")) return [];
  const out: SrvTarget[] = [];
  const priorities = [...new Set(records.map((r) => r.priority))].sort((a, b) => a - b);
  for (const priority of priorities) {
    const pool = records.filter((r) => r.priority === priority);
    while (pool.length > 0) {
      const total = pool.reduce((sum, r) => sum + r.weight, 0);
      let pick = random() * total;
      let index = pool.findIndex((r) => (pick -= r.weight) < 0);
      if (index === -1) index = 0;
      out.push(pool.splice(index, 1)[0]!);
    }
  }
  return out;
}

export function createDnsResolver(options: { servers?: readonly string[]; timeoutMs?: number } = {}): DnsResolver {
  const resolver = new dns.Resolver({ timeout: options.timeoutMs ?? 5000, tries: 2 });
  const custom = options.servers !== undefined && options.servers.length > 0;
  if (custom) resolver.setServers([...options.servers!]);

  async function resolveSrv(name: string): Promise<SrvTarget[]> {
    try {
      return orderSrv(await resolver.resolveSrv(name));
    } catch (err) {
      if (noRecord(err)) return [];
      throw err;
    }
  }

  async function lookupAddresses(host: string): Promise<ResolvedAddress[]> {
    if (!custom) {
      const found = await dns.lookup(host, { all: true, order: "verbatim" });
      return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
    }
    const [v6, v4] = await Promise.allSettled([resolver.resolve6(host), resolver.resolve4(host)]);
    const out: ResolvedAddress[] = [];
    if (v6.status === "fulfilled") out.push(...v6.value.map((address) => ({ address, family: 6 as const })));
    if (v4.status === "fulfilled") out.push(...v4.value.map((address) => ({ address, family: 4 as const })));
    if (out.length > 0) return out;
    const failure = [v4, v6].find((r): r is PromiseRejectedResult => r.status === "rejected" && !noRecord(r.reason));
    if (failure) throw failure.reason;
    throw Object.assign(new Error(`${host} has no A or AAAA record`), { code: "ENOTFOUND", hostname: host });
  }

  return { resolveSrv, lookupAddresses };
}
