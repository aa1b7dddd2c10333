// The shape of homeserver.yaml. Ajv validates the merged file + environment
// overrides against `configSchema`; unknown keys are errors so a typo never
// silently falls back to a default.

export interface HomeserverConfig {
  server_name: string;
  public_baseurl?: string;
  signing_key_path: string;
  registration_shared_secret?: string;
  /** Signing keys this server used before, by key id (Synapse's old_signing_keys), published as old_verify_keys. */
  old_signing_keys: Record<string, { key: string; expired_ts: number }>;
  /** Notary servers asked for keys when a server cannot be reached directly (Synapse's trusted_key_servers). */
  trusted_key_servers: Array<{ server_name: string; verify_keys: Record<string, string> }>;
  federation: {
    /** Replaces the default blocklist (DEFAULT_IP_RANGE_BLOCKLIST) when given. */
    ip_range_blocklist?: string[];
    ip_range_allowlist: string[];
    /** "ip" or "ip:port" of DNS servers for SRV and address look-ups; unset → the system resolver. */
    dns_servers?: string[];
    ca_bundle_path?: string;
    verify_certificates: boolean;
    connect_timeout_ms: number;
    request_timeout_ms: number;
    max_response_bytes: number;
    /** Largest request body the federation listener reads (a transaction of 50 PDUs of 64 KiB and 100 EDUs fits). */
    max_request_body_bytes: number;
    rate_limit: { per_second: number; burst_count: number };
  };
  database: {
    url?: string;
    pool_max: number;
    /** Merge concurrent reads that differ only in parameters into one statement (server/storage/batching-reader.ts). */
    batch_reads: boolean;
    embedded_data_dir: string;
    embedded_port: number;
  };
  redis: {
    url: string;
    key_prefix: string;
  };
  listeners: {
    client: { port: number; bind_addresses: string[] };
    federation: {
      enabled: boolean;
      port: number;
      bind_addresses: string[];
      tls_certificate_path: string;
      tls_private_key_path: string;
    };
  };
  limits: {
    max_json_body_bytes: number;
    max_header_bytes: number;
    headers_timeout_ms: number;
    request_timeout_ms: number;
    keep_alive_timeout_ms: number;
    max_bulk_json_body_bytes: number;
    to_device_inbox_per_device: number;
    /** Rooms per GET /mutual_rooms batch. */
    mutual_rooms_batch: number;
  };
  metrics: { enabled: boolean; allow_from: string[] };
  logging: { level: "trace" | "debug" | "info" | "warn" | "error" | "fatal"; format: "auto" | "json" | "pretty" };
  well_known: {
    client_base_url?: string;
    server?: string;
    /** Served as /.well-known/matrix/support (MSC1929); absent → 404. */
    support?: { contacts: Array<{ matrix_id?: string; email_address?: string; role: string }>; support_page?: string };
    /** Served as /.well-known/matrix/policy_server when this server acts as a policy server; absent → 404. */
    policy_server?: { public_keys: { ed25519: string } };
  };
  /** TURN credentials for GET /voip/turnServer (Synapse's turn_* keys). */
  voip: { turn_uris: string[]; turn_shared_secret?: string; turn_username?: string; turn_password?: string; turn_user_lifetime_ms: number; turn_allow_guests: boolean };
  registration: { enabled: boolean; require_token: boolean };
  auth: { refreshable_access_token_lifetime_ms: number; openid_token_lifetime_ms: number };
  rate_limits: Record<"login" | "registration" | "message" | "joins" | "to_device" | "threepid_validation", { per_second: number; burst_count: number }>;
  /** Identity servers (host[:port]) that /account/3pid/bind and /unbind may call; empty: binding is refused. */
  identity_servers: string[];
  /** E-mail identifiers: validation mails over SMTP. Absent: e-mail endpoints answer M_THREEPID_MEDIUM_NOT_SUPPORTED. */
  email?: EmailConfig;
  presence: { enabled: boolean };
  stream: { max_connections_per_user: number; max_connections: number };
  /** Maximum entries of each in-process cache. */
  caches: { room_versions: number; device_last_seen: number };
  shutdown_grace_period_ms: number;
  media: MediaConfig;
  url_preview: UrlPreviewConfig;
  media_retention: { local_media_lifetime?: number | string; remote_media_lifetime?: number | string; interval_ms: number };
  workers: { thumbnail_concurrency: number; remote_media_concurrency: number; url_preview_concurrency: number };
  search: SearchConfig;
  push: PushConfig;
}

export interface ElasticsearchConfig {
  /** http(s) URL of a cluster node. */
  node: string;
  username?: string;
  password?: string;
  api_key?: string;
  /** PEM file of CAs trusted for the cluster's certificate. */
  ca_bundle_path?: string;
  /** The alias searches and writes use; the indices behind it are <index>-v<n>. */
  index: string;
  request_timeout_ms: number;
}

export interface PushConfig {
  /** How often a push worker folds new push actions into the unread-count summaries. */
  rotation_interval_ms: number;
}

export interface SearchConfig {
  backend: "postgres" | "elasticsearch";
  /** PostgreSQL text search configuration and Elasticsearch stemmer language (the same names for the common languages). */
  language: string;
  /** How often a worker indexes whatever is past the stored position even without a job (lost jobs cost at most this). */
  catch_up_interval_ms: number;
  /** Events per indexing transaction. */
  batch_size: number;
  elasticsearch?: ElasticsearchConfig;
}

export type EmailPurpose = "registration" | "password_reset" | "add_threepid";

export interface EmailTemplate {
  subject: string;
  text: string;
}

export interface EmailConfig {
  smtp_host: string;
  smtp_port: number;
  smtp_user?: string;
  smtp_pass?: string;
  /** Implicit TLS from the first byte (port 465). */
  force_tls: boolean;
  /** Refuse to send unless the server offers STARTTLS. */
  require_transport_security: boolean;
  /** The From header, e.g. "Example <noreply@example.org>". */
  notif_from: string;
  /** How long an e-mailed validation link works. */
  validation_token_lifetime_ms: number;
  /** How long requestToken waits for the first attempt to send before answering. */
  send_wait_ms: number;
  /** Attempts of one mail job (the first included). */
  send_attempts: number;
  smtp_timeout_ms: number;
  templates: Record<EmailPurpose, EmailTemplate>;
}

export interface ThumbnailSize {
  width: number;
  height: number;
  method: "crop" | "scale";
}

export interface S3Config {
  bucket: string;
  region: string;
  /** https://s3.<region>.amazonaws.com unless set (MinIO, moto, R2...). */
  endpoint?: string;
  access_key_id: string;
  secret_access_key: string;
  /** Prepended to every object key. */
  prefix: string;
  /** Address objects as <endpoint>/<bucket>/<key> rather than <bucket>.<endpoint>/<key>. */
  force_path_style: boolean;
}

export interface MediaConfig {
  store: "local" | "s3";
  /** Local store folder (also the staging folder of the S3 store). */
  store_path: string;
  s3?: S3Config;
  max_upload_size: number;
  max_image_pixels: number;
  thumbnail_sizes: ThumbnailSize[];
  dynamic_thumbnails: boolean;
  max_pending_uploads_per_user: number;
  unused_expiration_ms: number;
  /** Synapse's enable_authenticated_media: media uploaded while true is not served by the legacy unauthenticated endpoints. */
  enable_authenticated_media: boolean;
  remote_fetch_timeout_ms: number;
  upload_rate_limit: { per_second: number; burst_count: number };
}

export interface UrlPreviewConfig {
  enabled: boolean;
  ip_range_blocklist?: string[];
  ip_range_allowlist: string[];
  max_spider_size: number;
  timeout_ms: number;
  max_redirects: number;
  cache_duration_ms: number;
}

const port = { type: "integer", minimum: 0, maximum: 65535 } as const;
const rateLimit = (perSecond: number, burst: number) =>
  ({
    type: "object",
    additionalProperties: false,
    default: {},
    properties: {
      per_second: { type: "number", minimum: 0, default: perSecond },
      burst_count: { type: "number", minimum: 1, default: burst },
    },
  }) as const;
/** A mail template: {server_name}, {link}, {token} and {lifetime} are replaced (templates.ts). */
const emailTemplate = (subject: string, text: string) =>
  ({
    type: "object",
    additionalProperties: false,
    default: {},
    properties: { subject: { type: "string", minLength: 1, default: subject }, text: { type: "string", pattern: "\\{link\\}", default: text } },
  }) as const;
const duration = { anyOf: [{ type: "integer", minimum: 1 }, { type: "string", pattern: "^[0-9]+(ms|s|m|h|d|w|y)?$" }] } as const;
const keyId = "^ed25519:[a-zA-Z0-9_]+$";
const addresses = { type: "array", items: { type: "string", minLength: 1 }, minItems: 1 } as const;

export const configSchema = {
  type: "object",
  additionalProperties: false,
  required: ["server_name", "signing_key_path"],
  properties: {
    server_name: { type: "string", minLength: 1 },
    public_baseurl: { type: "string", pattern: "^https?://" },
    signing_key_path: { type: "string", minLength: 1 },
    registration_shared_secret: { type: "string", minLength: 16 },
    old_signing_keys: {
      type: "object",
      default: {},
      propertyNames: { pattern: keyId },
      additionalProperties: {
        type: "object",
        additionalProperties: false,
        required: ["key", "expired_ts"],
        properties: { key: { type: "string", minLength: 43 }, expired_ts: { type: "integer", minimum: 0 } },
      },
    },
    trusted_key_servers: {
      type: "array",
      default: [],
      items: {
        type: "object",
        additionalProperties: false,
        required: ["server_name", "verify_keys"],
        properties: {
          server_name: { type: "string", minLength: 1 },
          verify_keys: { type: "object", minProperties: 1, propertyNames: { pattern: keyId }, additionalProperties: { type: "string", minLength: 43 } },
        },
      },
    },
    federation: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        ip_range_blocklist: { type: "array", items: { type: "string", minLength: 1 } },
        ip_range_allowlist: { type: "array", items: { type: "string", minLength: 1 }, default: [] },
        dns_servers: { type: "array", items: { type: "string", minLength: 1 }, minItems: 1 },
        ca_bundle_path: { type: "string", minLength: 1 },
        verify_certificates: { type: "boolean", default: true },
        connect_timeout_ms: { type: "integer", minimum: 100, default: 10000 },
        request_timeout_ms: { type: "integer", minimum: 100, default: 60000 },
        max_response_bytes: { type: "integer", minimum: 1024, default: 16777216 },
        max_request_body_bytes: { type: "integer", minimum: 65536, default: 8388608 },
        // Requests per second one remote server may make to our federation listener.
        rate_limit: rateLimit(50, 100),
      },
    },
    database: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: "string", pattern: "^postgres(ql)?://" },
        pool_max: { type: "integer", minimum: 1, maximum: 1000, default: 10 },
        batch_reads: { type: "boolean", default: false },
        embedded_data_dir: { type: "string", default: "./data/postgres" },
        embedded_port: { ...port, default: 54329 },
      },
    },
    redis: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: "string", pattern: "^rediss?://", default: "redis://127.0.0.1:6379" },
        key_prefix: { type: "string", default: "myelin:" },
      },
    },
    listeners: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        client: {
          type: "object",
          additionalProperties: false,
          default: {},
          properties: {
            port: { ...port, default: 8008 },
            bind_addresses: { ...addresses, default: ["127.0.0.1"] },
          },
        },
        federation: {
          type: "object",
          additionalProperties: false,
          default: {},
          properties: {
            enabled: { type: "boolean", default: true },
            port: { ...port, default: 8448 },
            bind_addresses: { ...addresses, default: ["0.0.0.0"] },
            tls_certificate_path: { type: "string", default: "./tls.crt" },
            tls_private_key_path: { type: "string", default: "./tls.key" },
          },
        },
      },
    },
    limits: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        max_json_body_bytes: { type: "integer", minimum: 1024, default: 65536 },
        // Request line + headers; Synapse (Twisted) allows 16 KiB too.
        max_header_bytes: { type: "integer", minimum: 1024, maximum: 1048576, default: 16384 },
        headers_timeout_ms: { type: "integer", minimum: 100, default: 20000 },
        request_timeout_ms: { type: "integer", minimum: 100, default: 60000 },
        keep_alive_timeout_ms: { type: "integer", minimum: 100, default: 65000 },
        // Key uploads and queries, to-device sends and key-backup uploads for large rooms exceed 64 KiB.
        max_bulk_json_body_bytes: { type: "integer", minimum: 1024, default: 8388608 },
        to_device_inbox_per_device: { type: "integer", minimum: 1, default: 10000 },
        mutual_rooms_batch: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
      },
    },
    metrics: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: "boolean", default: true },
        allow_from: { type: "array", items: { type: "string" }, default: ["127.0.0.1", "::1"] },
      },
    },
    logging: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ["trace", "debug", "info", "warn", "error", "fatal"], default: "info" },
        format: { enum: ["auto", "json", "pretty"], default: "auto" },
      },
    },
    well_known: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        client_base_url: { type: "string", pattern: "^https?://" },
        server: { type: "string", minLength: 1 },
        support: {
          type: "object",
          additionalProperties: false,
          required: ["contacts"],
          properties: {
            contacts: {
              type: "array",
              items: {
                type: "object",
                additionalProperties: false,
                required: ["role"],
                properties: {
                  matrix_id: { type: "string", pattern: "^@[^:]+:.+$" },
                  email_address: { type: "string", pattern: "^[^@\\s]+@[^@\\s]+$" },
                  role: { type: "string", pattern: "^(m\\.role\\.(admin|security)|[a-z0-9.]+\\.[a-z0-9._-]+)$" },
                },
              },
            },
            support_page: { type: "string", pattern: "^https?://" },
          },
        },
        policy_server: {
          type: "object",
          additionalProperties: false,
          required: ["public_keys"],
          properties: {
            public_keys: {
              type: "object",
              additionalProperties: false,
              required: ["ed25519"],
              properties: { ed25519: { type: "string", pattern: "^[A-Za-z0-9+/]{43}$" } },
            },
          },
        },
      },
    },
    voip: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        turn_uris: { type: "array", items: { type: "string", pattern: "^turns?:" }, default: [] },
        // coturn's use-auth-secret / static-auth-secret.
        turn_shared_secret: { type: "string", minLength: 1 },
        turn_username: { type: "string", minLength: 1 },
        turn_password: { type: "string", minLength: 1 },
        // Synapse's turn_user_lifetime default: 1h.
        turn_user_lifetime_ms: { type: "integer", minimum: 1000, default: 3600000 },
        turn_allow_guests: { type: "boolean", default: true },
      },
    },
    registration: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: "boolean", default: false },
        require_token: { type: "boolean", default: false },
      },
    },
    auth: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        refreshable_access_token_lifetime_ms: { type: "integer", minimum: 1000, default: 300000 },
        // Synapse's fixed one hour.
        openid_token_lifetime_ms: { type: "integer", minimum: 1000, default: 3600000 },
      },
    },
    rate_limits: {
      type: "object",
      additionalProperties: false,
      default: {},
      // Synapse's defaults (rc_login, rc_registration, rc_message, rc_joins.local, rc_key_requests).
      properties: {
        login: rateLimit(0.17, 3),
        registration: rateLimit(0.17, 3),
        message: rateLimit(0.2, 10),
        joins: rateLimit(0.1, 10),
        to_device: rateLimit(20, 100),
        // Synapse's rc_3pid_validation: one mail per 5 minutes, burst 5.
        threepid_validation: rateLimit(0.003, 5),
      },
    },
    identity_servers: { type: "array", items: { type: "string", pattern: "^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\\[[0-9A-Fa-f:.]+\\](:[0-9]{1,5})?$" }, default: [] },
    email: {
      type: "object",
      additionalProperties: false,
      required: ["smtp_host", "notif_from"],
      properties: {
        smtp_host: { type: "string", minLength: 1 },
        smtp_port: { ...port, default: 25 },
        smtp_user: { type: "string", minLength: 1 },
        smtp_pass: { type: "string", minLength: 1 },
        force_tls: { type: "boolean", default: false },
        require_transport_security: { type: "boolean", default: false },
        notif_from: { type: "string", pattern: "@" },
        // Synapse's email.validation_token_lifetime: 1h.
        validation_token_lifetime_ms: { type: "integer", minimum: 1000, default: 3600000 },
        send_wait_ms: { type: "integer", minimum: 0, default: 10000 },
        send_attempts: { type: "integer", minimum: 1, maximum: 50, default: 6 },
        smtp_timeout_ms: { type: "integer", minimum: 100, default: 10000 },
        templates: {
          type: "object",
          additionalProperties: false,
          default: {},
          properties: {
            registration: emailTemplate("[{server_name}] Validate your email", "You have asked us to register this email with a new Matrix account on {server_name}. To continue, open this link:\n\n{link}\n\nIf this was not you, you can ignore this message; the link expires in {lifetime}.\n"),
            password_reset: emailTemplate("[{server_name}] Password reset", "A password reset was requested for your Matrix account on {server_name}. If this was you, open this link to allow it:\n\n{link}\n\nIf it was not, ignore this message and your password stays as it is; the link expires in {lifetime}.\n"),
            add_threepid: emailTemplate("[{server_name}] Validate your email", "You have asked us to add this email to your Matrix account on {server_name}. To confirm, open this link:\n\n{link}\n\nIf this was not you, you can ignore this message; the link expires in {lifetime}.\n"),
          },
        },
      },
    },
    stream: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        max_connections_per_user: { type: "integer", minimum: 1, default: 20 },
        max_connections: { type: "integer", minimum: 1, default: 50000 },
      },
    },
    caches: {
      type: "object",
      additionalProperties: false,
      default: {},
      // About 200 bytes an entry (measured): 50,000 entries stay under 10 MiB.
      properties: {
        room_versions: { type: "integer", minimum: 1, default: 50000 },
        device_last_seen: { type: "integer", minimum: 1, default: 50000 },
      },
    },
    presence: {
      type: "object",
      additionalProperties: false,
      default: {},
      // Synapse's presence.enabled (use_presence): off stores and sends nothing.
      properties: { enabled: { type: "boolean", default: true } },
    },
    shutdown_grace_period_ms: { type: "integer", minimum: 0, maximum: 600000, default: 9000 },
    media: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        store: { enum: ["local", "s3"], default: "local" },
        store_path: { type: "string", minLength: 1, default: "./data/media_store" },
        s3: {
          type: "object",
          additionalProperties: false,
          required: ["bucket", "region", "access_key_id", "secret_access_key"],
          properties: {
            bucket: { type: "string", minLength: 1 },
            region: { type: "string", minLength: 1 },
            endpoint: { type: "string", pattern: "^https?://" },
            access_key_id: { type: "string", minLength: 1 },
            secret_access_key: { type: "string", minLength: 1 },
            prefix: { type: "string", default: "" },
            force_path_style: { type: "boolean", default: false },
          },
        },
        // Synapse's defaults: max_upload_size 50M, max_image_pixels 32M.
        max_upload_size: { type: "integer", minimum: 1, default: 52428800 },
        max_image_pixels: { type: "integer", minimum: 1, default: 33554432 },
        thumbnail_sizes: {
          type: "array",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["width", "height", "method"],
            properties: { width: { type: "integer", minimum: 1, maximum: 4096 }, height: { type: "integer", minimum: 1, maximum: 4096 }, method: { enum: ["crop", "scale"] } },
          },
          default: [
            { width: 32, height: 32, method: "crop" },
            { width: 96, height: 96, method: "crop" },
            { width: 320, height: 240, method: "scale" },
            { width: 640, height: 480, method: "scale" },
            { width: 800, height: 600, method: "scale" },
          ],
        },
        dynamic_thumbnails: { type: "boolean", default: false },
        max_pending_uploads_per_user: { type: "integer", minimum: 1, default: 5 },
        unused_expiration_ms: { type: "integer", minimum: 1000, default: 86400000 },
        enable_authenticated_media: { type: "boolean", default: true },
        remote_fetch_timeout_ms: { type: "integer", minimum: 100, default: 60000 },
        // Synapse's rc_media_create figures (10/s, burst 50).
        upload_rate_limit: rateLimit(10, 50),
      },
    },
    url_preview: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: "boolean", default: false },
        ip_range_blocklist: { type: "array", items: { type: "string", minLength: 1 } },
        ip_range_allowlist: { type: "array", items: { type: "string", minLength: 1 }, default: [] },
        max_spider_size: { type: "integer", minimum: 1024, default: 10485760 },
        timeout_ms: { type: "integer", minimum: 100, default: 10000 },
        max_redirects: { type: "integer", minimum: 0, maximum: 20, default: 5 },
        cache_duration_ms: { type: "integer", minimum: 0, default: 3600000 },
      },
    },
    media_retention: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        local_media_lifetime: duration,
        remote_media_lifetime: duration,
        interval_ms: { type: "integer", minimum: 100, default: 3600000 },
      },
    },
    workers: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        thumbnail_concurrency: { type: "integer", minimum: 1, default: 2 },
        remote_media_concurrency: { type: "integer", minimum: 1, default: 4 },
        url_preview_concurrency: { type: "integer", minimum: 1, default: 2 },
      },
    },
    push: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        rotation_interval_ms: { type: "integer", minimum: 100, default: 5000 },
      },
    },
    search: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        backend: { enum: ["postgres", "elasticsearch"], default: "postgres" },
        language: { type: "string", pattern: "^[a-z_]+$", default: "english" },
        catch_up_interval_ms: { type: "integer", minimum: 100, default: 30000 },
        batch_size: { type: "integer", minimum: 1, maximum: 10000, default: 500 },
        elasticsearch: {
          type: "object",
          additionalProperties: false,
          required: ["node"],
          properties: {
            node: { type: "string", pattern: "^https?://" },
            username: { type: "string", minLength: 1 },
            password: { type: "string", minLength: 1 },
            api_key: { type: "string", minLength: 1 },
            ca_bundle_path: { type: "string", minLength: 1 },
            index: { type: "string", pattern: "^[a-z0-9][a-z0-9_.-]*$", default: "myelin_events" },
            request_timeout_ms: { type: "integer", minimum: 100, default: 30000 },
          },
        },
      },
    },
  },
} as const;

/** A duration of the config ("90d", "12h", "500ms", or a number of ms) in ms. */
export function durationMs(value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number") return value;
  const match = /^([0-9]+)(ms|s|m|h|d|w|y)?$/.exec(value);
  if (!match) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 }[match[2] ?? "ms"]!;
  return Number(match[1]) * unit;
}
