// Entry point: command line → config → stores → listeners. Wiring only.
//
//   npm start [-- --config PATH] [--generate-config] [--server-name NAME] [--role ROLE]
import { existsSync, readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { createFederationApp } from "../federation/app.ts";
import { createFederationServices } from "../federation/services.ts";
import { registerClientApi } from "./client-api/index.ts";
import { ConfigError } from "./config/config-error.ts";
import { ensureKeyMaterial, generateConfig } from "./config/generate.ts";
import { loadConfig } from "./config/load.ts";
import { createClientApp } from "./http/client-app.ts";
import { answerClientErrors, listenerOptions } from "./http/listener-limits.ts";
import { CacheRegistry } from "./lib/bounded-cache.ts";
import { listen } from "./lifecycle/listen.ts";
import { installShutdown } from "./lifecycle/shutdown.ts";
import { createLogger } from "./observability/logger.ts";
import { createMetrics } from "./observability/metrics.ts";
import { parseSigningKeyFile } from "./protocol/signing.ts";
import { connectRedis } from "./redis/connect.ts";
import { federationSlot } from "./e2ee/federation-ports.ts";
import { createRoomServices } from "./services.ts";
import { resolveDatabase } from "./storage/connect.ts";
import { createNotifier } from "./sync/notifier.ts";
import { createStreamServer } from "./sync/stream/stream-server.ts";
import { createBatchingReader } from "./storage/batching-reader.ts";
import { createDatabase, type Database } from "./storage/database.ts";
import { migrateToLatest } from "./storage/migrate.ts";
import { createMediaServices } from "./media/services.ts";
import { createJobQueues } from "../workers/bullmq.ts";
import { startMediaWorkers } from "../workers/media.ts";
import { startSearchWorkers } from "../workers/search.ts";
import { startPushWorkers } from "../workers/push.ts";
import { createPushRotation } from "./rooms/push-rotation.ts";
import { createSearchServices } from "./search/services.ts";
import { startEmailWorkers } from "../workers/email.ts";
import { emailValidationQueue, type EmailValidationPayload } from "../workers/email/queue.ts";
import { createEmailValidationHandler } from "../workers/email/handler.ts";
import { createSmtpMailer } from "./mail/mailer.ts";
import { clientBaseUrl } from "./config/derived.ts";

const USAGE = `usage: npm start -- [--config PATH] [--generate-config] [--server-name NAME]
  --config PATH        configuration file (default: ./homeserver.yaml, or $MYELIN_CONFIG)
  --generate-config    write the config, signing key and TLS pair if missing, then exit
  --server-name NAME   server_name for a newly generated config (default: localhost)
  --role ROLE          what this process runs, repeatable or comma-separated: api (client and
                       federation listeners), worker:media (the media job workers, no listener),
                       worker:search (the search indexer), worker:push (unread-count
                       rotation), worker:email (the validation mail sender), all (default: every role)`;

const ROLES = ["api", "worker:media", "worker:search", "worker:push", "worker:email"] as const;
type Role = (typeof ROLES)[number];

/** The roles of --role values ("all" or none given: every role). */
export function parseRoles(values: readonly string[] | undefined): Set<Role> {
  const given = (values ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
  if (given.length === 0 || given.includes("all")) return new Set(ROLES);
  const roles = new Set<Role>();
  for (const value of given) {
    if (!(ROLES as readonly string[]).includes(value)) throw new ConfigError(`unknown --role ${value} (expected ${[...ROLES, "all"].join(", ")})`);
    roles.add(value as Role);
  }
  return roles;
}

function fail(message: string, code: number): never {
  process.stderr.write(`myelin: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: "string" },
        "generate-config": { type: "boolean" },
        "server-name": { type: "string" },
        role: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`, 2);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const configPath = resolve(args.config ?? process.env.MYELIN_CONFIG ?? "homeserver.yaml");

  if (args["generate-config"] || !existsSync(configPath)) {
    const generated = await generateConfig(configPath, args["server-name"] ?? process.env.MYELIN_SERVER_NAME ?? "localhost");
    const config = loadConfig(configPath);
    const keys = await ensureKeyMaterial(config);
    for (const file of [...generated.created, ...keys]) process.stderr.write(`myelin: generated ${file}\n`);
    if (args["generate-config"]) return;
  }

  const roles = parseRoles(args.role);
  const config = loadConfig(configPath);
  await ensureKeyMaterial(config);
  const signingKeys = parseSigningKeyFile(readFileSync(config.signing_key_path, "utf8"));
  const signingKey = signingKeys[0];
  if (!signingKey) throw new ConfigError(`signing key file ${config.signing_key_path} holds no key`);
  const serverOptions = listenerOptions(config.limits);

  const log = createLogger({ level: config.logging.level, format: config.logging.format });
  log.info({ serverName: config.server_name, config: configPath }, "starting Myelin");

  const database = await resolveDatabase({
    configuredUrl: config.database.url,
    embeddedDataDir: config.database.embedded_data_dir,
    embeddedPort: config.database.embedded_port,
    log: (message) => log.info(message),
  });
  const migration = await migrateToLatest(database.url, (message) => log.debug({ migration: message }, "migrate"));
  if (migration.applied.length > 0) log.info({ applied: migration.applied }, "database migrations applied");
  // Reads issued together (a commit waking a room's members) run as one statement each (server/storage/batching-reader.ts).
  const db: Database = createBatchingReader(createDatabase(database.url, { max: config.database.pool_max }), {
    mergeDistinct: config.database.batch_reads,
    onBatchError: (err, text) => log.warn({ err, sql: text.slice(0, 200) }, "a batched read failed; its queries ran one by one"),
  });
  const redis = await connectRedis(config.redis.url, config.redis.key_prefix);
  const queues = createJobQueues({ redisUrl: config.redis.url, keyPrefix: config.redis.key_prefix, log: log.child({ component: "jobs" }) });
  // An unreachable Elasticsearch (or an unknown text search configuration) stops start-up here, with one line.
  const search = await createSearchServices({ config, db, queues, log });
  await search.backend.start();

  const notifier = await createNotifier(redis, config.redis.key_prefix);
  const signer = { serverName: config.server_name, key: signingKey };
  const caches = new CacheRegistry();
  // End-to-end encryption and federation need each other: the e2ee services get federation's ports once it is built.
  const e2eeFederation = federationSlot();
  const services = createRoomServices({
    db,
    redis,
    notifier,
    signer,
    presenceEnabled: config.presence.enabled,
    caches,
    roomVersionsCacheSize: config.caches.room_versions,
    toDeviceInboxLimit: config.limits.to_device_inbox_per_device,
    e2eeFederation: e2eeFederation.ports,
    onCommitted: (committed) => search.committed(committed.position),
  });
  const federation = createFederationServices({ config, db, signingKey, log, rooms: services, notifier });
  e2eeFederation.bind(federation.e2ee);
  const media = createMediaServices({ config, db, queues, federationStream: (destination, path, options) => federation.client.stream(destination, path, options), log });
  const emailConfig = config.email;
  // Producers see a port; the mail job's attempts come from the config.
  const emailJobs = emailConfig
    ? { validation: (payload: EmailValidationPayload) => queues.enqueue(emailValidationQueue, payload, { attempts: emailConfig.send_attempts }) }
    : undefined;
  const metrics = createMetrics(() => db.stats());
  metrics.watchCaches(() => caches.all());
  let draining = false;
  const clientApp = createClientApp({
    config,
    log,
    metrics,
    probes: { postgres: () => db.ping(), redis: () => redis.ping().then(() => true, () => false) },
    isDraining: () => draining,
    registerRoutes: (table, body) => registerClientApi(table, body, { config, db, redis, notifier, signer, services, remote: federation.remote, remoteMembership: federation.membership, remoteHistory: federation.backfill, caches, media, search: search.service(services.rooms), identity: federation.identity, ...(emailJobs ? { emailJobs } : {}) }),
  });
  const stream = createStreamServer({
    db,
    services,
    notifier,
    log,
    limits: { maxConnectionsPerUser: config.stream.max_connections_per_user, maxConnections: config.stream.max_connections },
  });
  if (roles.has("worker:search")) metrics.gauge("myelin_search_indexed_position", "Stream position up to which this process's search worker has indexed (compare with the stream head for the lag)", () => search.indexer.lastPosition());
  metrics.gauge("myelin_stream_connections", "Open org.myelin.stream WebSocket connections in this process", () => stream.connectionCount());
  const servers = [];
  const api = roles.has("api");
  for (const host of api ? config.listeners.client.bind_addresses : []) {
    const server = createHttpServer(serverOptions, clientApp);
    answerClientErrors(server, config.limits.max_header_bytes, log);
    stream.attach(server);
    const address = await listen(server, config.listeners.client.port, host, "client");
    servers.push(server);
    log.info({ listener: "client", host: address.address, port: address.port }, "listening");
  }
  if (api && config.listeners.federation.enabled) {
    const federationApp = createFederationApp({ config, log, metrics, signingKey, db, redis, federation, rooms: services.rooms, e2ee: services.e2ee, media: media.repository });
    const tls = {
      cert: readFileSync(config.listeners.federation.tls_certificate_path),
      key: readFileSync(config.listeners.federation.tls_private_key_path),
    };
    for (const host of config.listeners.federation.bind_addresses) {
      const server = createHttpsServer({ ...serverOptions, ...tls }, federationApp);
      answerClientErrors(server, config.limits.max_header_bytes, log);
      const address = await listen(server, config.listeners.federation.port, host, "federation");
      servers.push(server);
      log.info({ listener: "federation", host: address.address, port: address.port }, "listening");
    }
  }

  // Destinations still owed events (a restart, an outage) are tried again now.
  await federation.sender.start();

  if (roles.has("worker:media")) await startMediaWorkers(media.workers);
  if (roles.has("worker:search")) await startSearchWorkers(search.workers);
  if (roles.has("worker:push")) {
    await startPushWorkers({ queues, rotation: createPushRotation({ db, log: log.child({ component: "push-rotation" }) }), rotationIntervalMs: config.push.rotation_interval_ms, log });
  }
  const mailers: Array<{ close(): void }> = [];
  if (roles.has("worker:email") && emailConfig) {
    const mailer = await createSmtpMailer(emailConfig);
    mailers.push(mailer);
    const handler = createEmailValidationHandler({
      db,
      mailer,
      email: emailConfig,
      serverName: config.server_name,
      link: (session, token) => {
        const url = new URL("/_synapse/client/email/submit_token", clientBaseUrl(config));
        url.search = new URLSearchParams({ token, client_secret: session.clientSecret, sid: session.sessionId }).toString();
        return url.toString();
      },
    });
    await startEmailWorkers({ queues, db, handler, attempts: emailConfig.send_attempts, log: log.child({ component: "email" }) });
  }
  if ([...roles].some((r) => r.startsWith("worker:"))) log.info({ roles: [...roles] }, "workers started");

  installShutdown({
    servers,
    beforeClose: () => stream.drain(1000),
    graceMs: config.shutdown_grace_period_ms,
    log,
    onDraining: () => {
      draining = true;
    },
    closers: [() => queues.close(), () => search.backend.close(), async () => mailers.forEach((m) => m.close()), async () => media.close(), async () => federation.close(), async () => services.typing.close(), () => notifier.close(), () => db.close(), () => redis.quit(), ...(database.stop ? [database.stop] : [])],
  });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) fail(err.message, err.exitCode);
  const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
  fail(`start-up failed: ${message}`, 1);
});
