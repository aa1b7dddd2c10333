// An HTTPS agent that only connects where the address policy allows. The
// check runs on the addresses a host name resolves to (a `lookup` that drops
// refused addresses, so a name that re-resolves to 127.0.0.1 between two
// requests, DNS rebinding, is caught at connect time), on IP literals (which
// net.connect never looks up), and once more on the socket's remote address
// after connecting.
import { Agent, type AgentOptions } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import type { Duplex } from "node:stream";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { ClientRequestArgs } from "node:http";
import type { DnsResolver } from "./dns.ts";
import type { AddressPolicy } from "./ip-range.ts";

/** The connection was refused by our own policy; nothing was sent. */
export class BlockedAddressError extends Error {
  readonly code = "ERR_ADDRESS_BLOCKED";
  constructor(host: string, reason: string) {
    super(`refusing to connect to ${host}: ${reason}`);
    this.name = "BlockedAddressError";
  }
}

/** A net `lookup` that resolves through `dns` and keeps only the addresses `policy` allows. */
export function createGuardedLookup(dns: DnsResolver, policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    const done = callback as (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;
    const literal = isIP(hostname);
    const found = literal ? Promise.resolve([{ address: hostname, family: literal as 4 | 6 }]) : dns.lookupAddresses(hostname);
    found.then(
      (addresses) => {
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
        const allowed = wanted.filter((a) => policy.refusal(a.address) === undefined);
        if (allowed.length === 0) {
          const reason = wanted.length > 0 ? policy.refusal(wanted[0]!.address)! : "no address of the requested family";
          done(new BlockedAddressError(hostname, reason), "");
          return;
        }
        if (options.all) done(null, allowed);
        else done(null, allowed[0]!.address, allowed[0]!.family);
      },
      (err: NodeJS.ErrnoException) => done(err, ""),
    );
  };
}

/**
 * The connection step both guarded agents share: an IP literal the policy
 * refuses fails before any packet is sent (net.connect never looks literals
 * up), and the socket's remote address is checked again once connected.
 */
export function guardedConnect<S extends Duplex & { remoteAddress?: string | undefined }>(
  policy: AddressPolicy,
  options: ClientRequestArgs,
  callback: ((err: Error | null, stream: Duplex) => void) | undefined,
  connect: () => S,
): S | undefined {
  const host = String(options.host ?? options.hostname ?? "");
  if (isIP(host)) {
    const reason = policy.refusal(host);
    if (reason !== undefined) {
      process.nextTick(() => callback?.(new BlockedAddressError(host, reason), undefined as unknown as Duplex));
      return undefined;
    }
  }
  const socket = connect();
  socket.once("connect", () => {
    const reason = socket.remoteAddress === undefined ? "no remote address" : policy.refusal(socket.remoteAddress);
    if (reason !== undefined) socket.destroy(new BlockedAddressError(host, reason));
  });
  return socket;
}

export interface GuardedAgentOptions extends AgentOptions {
  policy: AddressPolicy;
  dns: DnsResolver;
}

export class GuardedHttpsAgent extends Agent {
  readonly #policy: AddressPolicy;
  /** Sockets whose TLS handshake has finished (a connect timeout no longer applies). */
  readonly established = new WeakSet<Duplex>();

  constructor(options: GuardedAgentOptions) {
    const { policy, dns, ...rest } = options;
    super({ ...rest, lookup: createGuardedLookup(dns, policy) });
    this.#policy = policy;
  }

  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = guardedConnect<TLSSocket>(this.#policy, options, callback, () => tlsConnect(options as Parameters<typeof tlsConnect>[0]));
    socket?.once("secureConnect", () => this.established.add(socket));
    return socket;
  }
}
