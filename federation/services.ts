// The federation composition root: DNS, the SSRF policy, discovery, the
// outbound client, the keyring and the remote queries, built once per process
// (server/main.ts) and shared by the federation listener and the client API.
import { createIdentityServerClient, type IdentityServerClient } from "./transport/identity-client.ts";
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import type { HomeserverConfig } from "../server/config/schema.ts";
import { createDnsResolver } from "../server/net/dns.ts";
import { GuardedHttpsAgent } from "../server/net/guarded-agent.ts";
import { createAddressPolicy } from "../server/net/ip-range.ts";
import type { Logger } from "../server/observability/logger.ts";
import type { SigningKey } from "../server/protocol/signing.ts";
import type { Signer } from "../server/rooms/events/build-local.ts";
import type { RoomServices } from "../server/services.ts";
import type { Database } from "../server/storage/database.ts";
import type { Notifier } from "../server/sync/notifier.ts";
import type { E2eeFederation } from "../server/e2ee/federation-ports.ts";
import { createInboundToDevice } from "./e2ee/inbound-to-device.ts";
import { createOutboundE2eeEdus } from "./e2ee/outbound-edus.ts";
import { createRemoteDeviceLists } from "./e2ee/remote-device-lists.ts";
import { createRemoteKeys } from "./e2ee/remote-keys.ts";
import { createBackfill, type Backfill } from "./ingest/backfill.ts";
import { createEduReceiver } from "./ingest/receive-edus.ts";
import { createPduReceiver, serverAllowedInRoom } from "./ingest/receive-pdu.ts";
import { createTransactionReceiver, type TransactionReceiver } from "./ingest/receive-transaction.ts";
import { createRemoteEvents } from "./ingest/remote-events.ts";
import { createKeyring, notariesFromConfig, type Keyring } from "./keys/keyring.ts";
import { JoinGate } from "./membership/join-gate.ts";
import { createRemoteMembership, type RemoteMembership } from "./membership/remote-membership.ts";
import { createResident, type Resident } from "./membership/resident.ts";
import { createEduFanout } from "./sender/edu-fanout.ts";
import { createFederationSender, type FederationSender } from "./sender/federation-sender.ts";
import { createRemoteQueries, type RemoteQueries } from "./remote-queries.ts";
import { createFederationClient, type FederationClient } from "./transport/federation-client.ts";
import { createServerResolver, type ServerResolver } from "./transport/resolve-server.ts";
import { createWellKnownLookup } from "./transport/well-known.ts";

/** Key fetches are on the path of an inbound request, so they get less time than a general request. */
const KEY_FETCH_TIMEOUT_MS = 10_000;
const WELL_KNOWN_TIMEOUT_MS = 10_000;

/** An identity server answers a bind or unbind quickly or not at all. */
const IDENTITY_TIMEOUT_MS = 10_000;

export interface FederationServices {
  client: FederationClient;
  resolver: ServerResolver;
  keyring: Keyring;
  remote: RemoteQueries;
  /** Transactions received with PUT /send. */
  transactions: TransactionReceiver;
  /** This server as resident of its rooms for other servers' users (make_/send_ join, leave, knock). */
  resident: Resident;
  /** Our users in rooms on other servers, and invites of their users. */
  membership: RemoteMembership;
  sender: FederationSender;
  /** Older history of rooms from their other servers. */
  backfill: Backfill;
  /** End-to-end encryption's ports (remote keys, EDUs out), bound into the e2ee services by server/main.ts. */
  e2ee: E2eeFederation;
  /** The trusted identity servers (config identity_servers), for /account/3pid/bind and /unbind. */
  identity: IdentityServerClient;
  close(): void;
}

export interface FederationServicesDeps {
  config: HomeserverConfig;
  db: Database;
  signingKey: SigningKey;
  log: Logger;
  rooms: Pick<RoomServices, "rooms" | "markers" | "presence" | "outboundEdus" | "e2ee">;
  notifier: Pick<Notifier, "onChange">;
}

export function createFederationServices(deps: FederationServicesDeps): FederationServices {
  const { config, log } = deps;
  const settings = config.federation;
  const policy = createAddressPolicy({ ...(settings.ip_range_blocklist ? { blocklist: settings.ip_range_blocklist } : {}), allowlist: settings.ip_range_allowlist });
  const dns = createDnsResolver(settings.dns_servers ? { servers: settings.dns_servers } : {});
  // `ca` replaces Node's store, so the extra CAs are added to the public roots.
  const ca = settings.ca_bundle_path ? [...rootCertificates.map((pem) => Buffer.from(pem)), readFileSync(settings.ca_bundle_path)] : undefined;
  if (!settings.verify_certificates) log.warn("federation.verify_certificates is false: remote servers' TLS certificates are NOT checked (development only)");
  const tls = { rejectUnauthorized: settings.verify_certificates, ...(ca ? { ca } : {}) };
  const wellKnownAgent = new GuardedHttpsAgent({ policy, dns, keepAlive: false, ...tls });
  const wellKnown = createWellKnownLookup({
    agent: wellKnownAgent,
    verifyCertificates: settings.verify_certificates,
    connectTimeoutMs: settings.connect_timeout_ms,
    timeoutMs: Math.min(WELL_KNOWN_TIMEOUT_MS, settings.request_timeout_ms),
  });
  const resolver = createServerResolver({ dns, wellKnown });
  const client = createFederationClient({
    serverName: config.server_name,
    signingKey: deps.signingKey,
    resolver,
    dns,
    policy,
    ...(ca ? { ca } : {}),
    verifyCertificates: settings.verify_certificates,
    connectTimeoutMs: settings.connect_timeout_ms,
    requestTimeoutMs: settings.request_timeout_ms,
    maxResponseBytes: settings.max_response_bytes,
    log: log.child({ component: "federation-client" }),
  });
  const keyring = createKeyring({
    db: deps.db,
    client,
    serverName: config.server_name,
    signingKey: deps.signingKey,
    oldKeys: config.old_signing_keys,
    notaries: notariesFromConfig(config.trusted_key_servers),
    fetchTimeoutMs: Math.min(KEY_FETCH_TIMEOUT_MS, settings.request_timeout_ms),
    log: log.child({ component: "keyring" }),
  });
  const remote = createRemoteQueries({ client, log });
  const signer: Signer = { serverName: config.server_name, key: deps.signingKey };
  const rooms = deps.rooms.rooms;
  const pdus = createPduReceiver({ db: deps.db, rooms, keyring, remote: createRemoteEvents(client), log: log.child({ component: "federation-ingest" }) });
  const e2eeLog = log.child({ component: "federation-e2ee" });
  const deviceListCache = createRemoteDeviceLists({ db: deps.db, client, serverName: config.server_name, deviceLists: deps.rooms.e2ee.deviceLists, log: e2eeLog });
  const edus = createEduReceiver({
    allowedInRoom: (roomId, server) => serverAllowedInRoom(deps.db, roomId, server),
    markers: deps.rooms.markers,
    presence: deps.rooms.presence,
    e2ee: {
      "m.device_list_update": deviceListCache.onDeviceListUpdate,
      "m.signing_key_update": deviceListCache.onSigningKeyUpdate,
      "m.direct_to_device": createInboundToDevice({ toDevice: deps.rooms.e2ee.toDevice, serverName: config.server_name, log: e2eeLog }),
    },
    log: log.child({ component: "federation-edus" }),
  });
  const joins = new JoinGate();
  const transactions = createTransactionReceiver({ db: deps.db, rooms, pdus, edus, joins, serverName: config.server_name, log: log.child({ component: "federation-ingest" }) });
  const resident = createResident({ db: deps.db, rooms, signer, keyring });
  const membership = createRemoteMembership({ db: deps.db, joins, rooms, client, keyring, signer, log: log.child({ component: "federation-membership" }) });
  const backfill = createBackfill({ db: deps.db, rooms, client, pdus, serverName: config.server_name, log: log.child({ component: "federation-backfill" }) });
  const sender = createFederationSender({ db: deps.db, rooms, client, serverName: config.server_name, log: log.child({ component: "federation-sender" }) });
  deps.notifier.onChange((change) => sender.onChange(change));
  // A membership change may leave remote users sharing no room with ours: their cached device lists go.
  deps.notifier.onChange((change) => {
    if (change.roomId === undefined || !change.userIds?.length) return;
    deviceListCache.onMembershipChange(change.roomId, change.userIds).catch((err: unknown) => e2eeLog.error({ err, roomId: change.roomId }, "dropping untracked device lists failed"));
  });
  const e2ee: E2eeFederation = {
    remoteKeys: createRemoteKeys({ client, cache: deviceListCache, log: e2eeLog }),
    outbound: createOutboundE2eeEdus({ serverName: config.server_name, sender }),
  };
  deps.rooms.outboundEdus.subscribe(createEduFanout({ db: deps.db, sender, log: log.child({ component: "federation-sender" }) }));
  return {
    client,
    resolver,
    keyring,
    remote,
    transactions,
    resident,
    membership,
    sender,
    backfill,
    e2ee,
    // One-shot requests with the well-known agent's policy, DNS and CAs.
    identity: createIdentityServerClient({
      trusted: config.identity_servers,
      agent: wellKnownAgent,
      verifyCertificates: settings.verify_certificates,
      serverName: config.server_name,
      signingKey: deps.signingKey,
      connectTimeoutMs: settings.connect_timeout_ms,
      requestTimeoutMs: Math.min(IDENTITY_TIMEOUT_MS, settings.request_timeout_ms),
    }),
    close() {
      sender.close();
      client.close();
      wellKnownAgent.destroy();
    },
  };
}
