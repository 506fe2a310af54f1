import { type Static, type TSchema, Type } from 'typebox'
import { Value } from 'typebox/value'

const PostgresUrl = Type.String({ pattern: '^postgres(ql)?://', description: 'a postgres:// URL' })

/**
 * Every setting Coffer reads. The `Config` type is inferred from this schema, and
 * docs/configuration.md is checked against it by a test, so the three cannot drift.
 */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({
    minimum: 0,
    maximum: 65535,
    default: 3000,
    description: 'TCP port the HTTP API listens on.',
  }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Interface the HTTP API binds to.' }),
  METRICS_PORT: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 65535,
      description:
        'A second port (on HOST) where GET /metrics answers without authentication, in every process, workers included; for scrapers that cannot hold an API key. Unset: no such listener, and Prometheus scrapes GET /metrics on PORT with a service API key.',
    }),
  ),
  DATA_DIR: Type.String({
    minLength: 1,
    default: './.coffer',
    description:
      'Directory for the embedded database (PGlite) when DATABASE_URL is not set; one Coffer process at a time holds it (coffer.lock).',
  }),
  DATABASE_URL: Type.Optional({
    ...PostgresUrl,
    description: 'PostgreSQL connection URL. Unset: the embedded PGlite database in DATA_DIR.',
  }),
  DATABASE_READ_URL: Type.Optional({
    ...PostgresUrl,
    description: 'Read replica for history and statement queries. Unset: reads go to DATABASE_URL.',
  }),
  DATABASE_PREPARED_STATEMENTS: Type.Boolean({
    default: true,
    description:
      'Name each distinct statement so PostgreSQL plans it once per connection. Set false behind a pooler in transaction mode that does not track prepared statements (PgBouncer before 1.21, or without max_prepared_statements).',
  }),
  DATABASE_PIPELINE_CONNECTIONS: Type.Integer({
    minimum: 0,
    maximum: 64,
    default: 4,
    description:
      'Connections, besides the pool, that carry statements which run on their own (a wallet read, a history page, an API-key lookup) pipelined: many in flight on one connection, written together. 0 sends them through the pool. Set 0 behind a pooler that does not support pipelining.',
  }),
  GROUP_COMMIT_BATCHES: Type.Integer({
    minimum: 1,
    maximum: 64,
    default: 4,
    description:
      'On PostgreSQL, at most how many group-commit batches (up to 100 waiting movements in one database transaction each) a process runs at once; each holds a pooled connection while it runs. One runs while the next fills; another starts beside it only when a full batch waits, or when the waiting movements have waited four times as long as a batch usually takes (at least 50 ms). The embedded database runs one.',
  }),
  DATABASE_POOL_SIZE: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 20,
    description: 'Maximum connections in the PostgreSQL pool.',
  }),
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 5000,
    description:
      'How long a request waits for a PostgreSQL connection before answering 503 database_unavailable, in milliseconds.',
  }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({
    minimum: 0,
    default: 0,
    description:
      "PostgreSQL statement_timeout of Coffer's connections, in milliseconds; 0 keeps the server's.",
  }),
  REDIS_URL: Type.Optional(
    Type.String({
      pattern: '^rediss?://',
      description: 'Redis URL. Unset: in-memory cache and rate limits.',
    }),
  ),
  AMQP_URL: Type.Optional(
    Type.String({
      pattern: '^amqps?://',
      description:
        'RabbitMQ URL (its path names the vhost): events are published to the exchange coffer.events and commands consumed from the queue coffer.commands. Unset: the in-process bus.',
    }),
  ),
  LOG_LEVEL: Type.Union(
    [
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
      Type.Literal('silent'),
    ],
    { default: 'info', description: 'pino log level.' },
  ),
  DB_CONNECT_RETRIES: Type.Integer({
    minimum: 0,
    default: 10,
    description: 'How many times to retry an unreachable database at start-up before exiting.',
  }),
  DB_CONNECT_RETRY_DELAY_MS: Type.Integer({
    minimum: 0,
    default: 2000,
    description: 'Delay between database connection attempts, in milliseconds.',
  }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({
    minimum: 0,
    default: 10000,
    description: 'How long in-flight requests may run after a shutdown signal, in milliseconds.',
  }),
  SHUTDOWN_DRAIN_SECONDS: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 300,
      description:
        'After a shutdown signal, how long /health/ready answers 503 while requests are still served, before the listener closes and SHUTDOWN_TIMEOUT_MS starts, in seconds (0: close at once). Unset: 5 with DATABASE_URL (behind a load balancer), 0 on the embedded database (one process, nowhere else to route).',
    }),
  ),
  POINTS_EXPIRING_SOON_DAYS: Type.Integer({
    minimum: 1,
    maximum: 3650,
    default: 30,
    description:
      'The window of expiringSoon in GET /api/v1/points: remaining points of lots that lapse within this many days.',
  }),
  IDEMPOTENCY_KEY_TTL_HOURS: Type.Integer({
    minimum: 24,
    default: 24,
    description:
      'How long an Idempotency-Key and its stored response are kept before the worker purges them.',
  }),
  OUTBOX_RETENTION_HOURS: Type.Integer({
    minimum: 1,
    default: 72,
    description:
      'How long a published outbox event is kept (for inspection and replay) before the worker purges it.',
  }),
  OUTBOX_RELAY_BATCH_SIZE: Type.Integer({
    minimum: 1,
    maximum: 10000,
    default: 500,
    description:
      'Outbox events the relay publishes per batch (one query, one round of publisher confirms, one update).',
  }),
  OUTBOX_RELAY_INTERVAL_MS: Type.Integer({
    minimum: 10,
    default: 100,
    description:
      'Pause of the relay after it found less than a full batch, in milliseconds (a full batch is followed by the next at once).',
  }),
  COMMAND_PREFETCH: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 64,
    description:
      'Commands (coffer.commands) a worker process handles at once: the AMQP prefetch and the concurrency (commands handled together share a group commit).',
  }),
  COMMAND_MAX_ATTEMPTS: Type.Integer({
    minimum: 1,
    maximum: 100,
    default: 5,
    description:
      'Deliveries of a command failing transiently before it goes to coffer.commands.dead (the first delivery counts).',
  }),
  COMMAND_RETRY_DELAYS_MS: Type.String({
    pattern: '^[1-9][0-9]{0,8}(,[1-9][0-9]{0,8})*$',
    default: '1000,5000,30000,120000',
    description:
      'Backoff before each retry of a command, comma-separated milliseconds (the last repeats); each delay is a queue coffer.commands.retry.<delay>.',
  }),
  REDIS_KEY_PREFIX: Type.String({
    minLength: 1,
    default: 'coffer:',
    description: 'Prefix of every Redis key Coffer writes, so several deployments can share one Redis.',
  }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({
    minimum: 50,
    default: 1000,
    description:
      'How long a Redis command may take before Coffer treats Redis as down for it (rate limits open, denylist from the database), in milliseconds.',
  }),
  JWT_PRIVATE_KEY: Type.Optional(
    Type.String({
      pattern: '-----BEGIN PRIVATE KEY-----',
      description:
        'Ed25519 private key (PKCS#8 PEM; \\n escapes allowed) that signs access tokens. Unset: one is generated at first start and kept in the database.',
    }),
  ),
  JWT_ISSUER: Type.String({
    minLength: 1,
    default: 'coffer',
    description: 'The iss claim of access tokens.',
  }),
  JWT_AUDIENCE: Type.String({
    minLength: 1,
    default: 'coffer',
    description: 'The aud claim of access tokens, required on every token Coffer accepts from itself.',
  }),
  ACCESS_TOKEN_TTL_SECONDS: Type.Integer({
    minimum: 1,
    maximum: 86400,
    default: 900,
    description: 'Lifetime of an access token, in seconds.',
  }),
  REFRESH_TOKEN_TTL_SECONDS: Type.Integer({
    minimum: 60,
    default: 2592000,
    description: 'Lifetime of a refresh token, in seconds; each refresh issues a new one.',
  }),
  AUTH_JWKS_URL: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description: 'JWKS of an external identity provider whose access tokens Coffer also accepts.',
    }),
  ),
  AUTH_ISSUER: Type.Optional(
    Type.String({ minLength: 1, description: 'The iss claim required on external tokens.' }),
  ),
  AUTH_AUDIENCE: Type.Optional(
    Type.String({ minLength: 1, description: 'The aud claim required on external tokens.' }),
  ),
  AUTH_JWKS_COOLDOWN_SECONDS: Type.Integer({
    minimum: 0,
    default: 30,
    description: 'Least time between two fetches of AUTH_JWKS_URL when tokens name an unknown kid.',
  }),
  AUTH_CACHE_TTL_SECONDS: Type.Integer({
    minimum: 0,
    maximum: 300,
    default: 5,
    description:
      'How long a verified API key or access token is remembered in-process (0 turns the cache off); the longest a revoked credential can still work where the revocation event did not arrive.',
  }),
  COFFER_ADMIN_EMAIL: Type.Optional(
    Type.String({ minLength: 3, description: 'Email of an admin created at start-up if absent.' }),
  ),
  COFFER_ADMIN_PASSWORD: Type.Optional(
    Type.String({
      minLength: 10,
      maxLength: 256,
      description: 'Password of that admin (10 to 256 characters); used only when the admin is created.',
    }),
  ),
  COFFER_USER_PASSWORD: Type.Optional(
    Type.String({
      description:
        'Password for `coffer users create` instead of standard input; read by that command only, never by the server.',
    }),
  ),
  RATE_LIMIT_AUTH_PER_MINUTE: Type.Integer({
    minimum: 1,
    default: 10,
    description: 'Register, sign-in and refresh requests allowed per minute per IP, and per email.',
  }),
  TRUST_PROXY: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        "Proxies whose X-Forwarded-For names the client IP (used by rate limits): 'true', a hop count, or comma-separated addresses/CIDRs.",
    }),
  ),
  SELF_DEPOSITS: Type.Optional(
    Type.Boolean({
      description:
        'Whether a user may deposit into and withdraw from their own wallet (true or false); admins and services always may. Unset: true on the embedded database (the demo), false on PostgreSQL.',
    }),
  ),
  COMMAND_SENDERS: Type.Optional(
    Type.String({
      pattern: '^[a-z][a-z0-9-]{0,62}(,[a-z][a-z0-9-]{0,62})*$',
      description:
        "Services allowed to send commands on coffer.commands, comma-separated names as the broker authenticates them (AMQP user_id); each applies as a service principal, its operationIds scoped to it. Unset: only Coffer's own operations.",
    }),
  ),
  WEBHOOK_ALLOW_LOCALHOST: Type.Boolean({
    default: false,
    description:
      'Development only: also accept webhook URLs http://localhost and http://127.0.0.1 (any port), and deliver to them. Off: https only, and never to a loopback, private, link-local or metadata address.',
  }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 60_000,
    default: 10_000,
    description: 'How long one webhook delivery attempt may take (connect, send, response), in milliseconds.',
  }),
  WEBHOOK_RETRY_DELAYS_MS: Type.String({
    pattern: '^[1-9][0-9]{0,8}(,[1-9][0-9]{0,8})*$',
    default: '5000,30000,120000,600000,1800000,3600000,7200000,14400000,28800000,28800000',
    description:
      'Backoff before each retry of a failed webhook delivery, comma-separated milliseconds, each with up to 20 % jitter; after the last the delivery has failed (the default spans about 24 h).',
  }),
  WEBHOOK_DISABLE_AFTER_FAILURES: Type.Integer({
    minimum: 1,
    default: 5,
    description:
      'Consecutive failed deliveries (each after all its retries) after which a subscription is disabled and the event webhook.disabled published.',
  }),
  WEBHOOK_SECRET_GRACE_HOURS: Type.Integer({
    minimum: 0,
    maximum: 720,
    default: 24,
    description:
      'After a webhook secret is rotated, how long deliveries are also signed with the previous one (unless the rotation names its own grace).',
  }),
  WEBHOOK_CONCURRENCY: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 32,
    description: 'Webhook requests a worker process has in flight at once, across subscriptions.',
  }),
  BALANCE_CACHE: Type.Union(
    [Type.Literal('auto'), Type.Literal('redis'), Type.Literal('memory'), Type.Literal('off')],
    {
      default: 'auto',
      description:
        'Where GET /wallets/{id} and /wallets/{id}/balance read a wallet from first: redis (needs REDIS_URL), memory (one process: the embedded shape), off, or auto (redis with REDIS_URL, else memory with the embedded database, else off).',
    },
  ),
  BALANCE_CACHE_TTL_SECONDS: Type.Integer({
    minimum: 1,
    maximum: 86_400,
    default: 60,
    description: 'How long a cached wallet is kept after it was last written, in seconds.',
  }),
  BALANCE_CACHE_TIMEOUT_MS: Type.Integer({
    minimum: 1,
    maximum: 10_000,
    default: 50,
    description:
      'How long a read or write of the Redis balance cache may take before the read goes to the database instead, in milliseconds.',
  }),
  STATEMENT_IMMEDIATE_MAX_DAYS: Type.Integer({
    minimum: 0,
    maximum: 3660,
    default: 15,
    description:
      'Statements of a period up to this many days (and STATEMENT_IMMEDIATE_MAX_LINES) are answered at once (200); longer ones become a job (202).',
  }),
  STATEMENT_IMMEDIATE_MAX_LINES: Type.Integer({
    minimum: 0,
    maximum: 1_000_000,
    default: 10_000,
    description: 'A statement with more lines than this becomes a job (202), however short its period.',
  }),
  STATEMENT_MAX_RANGE_DAYS: Type.Integer({
    minimum: 1,
    maximum: 36_600,
    default: 1830,
    description: 'The longest period a statement may cover, in days (422 past it); 1830 is five years.',
  }),
  STATEMENT_MAX_CONCURRENT_JOBS: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 3,
    description: 'Statement jobs one caller may have queued or running at once (429 past it).',
  }),
  STATEMENT_RETENTION_HOURS: Type.Integer({
    minimum: 1,
    maximum: 87_600,
    default: 168,
    description: 'How long a finished statement job and its file are kept, in hours; then both are deleted.',
  }),
  STATEMENT_LEASE_SECONDS: Type.Integer({
    minimum: 2,
    maximum: 3600,
    default: 30,
    description:
      'How long a worker holds a statement job between renewals (it renews every quarter second); a job whose worker died is taken over by another after this long.',
  }),
  STATEMENT_WORKER_CONCURRENCY: Type.Integer({
    minimum: 1,
    maximum: 64,
    default: 2,
    description: 'Statement jobs a worker process generates at once.',
  }),
})

/** Settings that mean something only together: one set without the others is a mistake. */
const SETTINGS_SET_TOGETHER = [
  ['AUTH_JWKS_URL', 'AUTH_ISSUER', 'AUTH_AUDIENCE'],
  ['COFFER_ADMIN_EMAIL', 'COFFER_ADMIN_PASSWORD'],
] as const

export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

type SchemaProperty = { type?: string; description?: string; default?: unknown; pattern?: string }

function describeExpectation(property: SchemaProperty): string {
  const schema = property as Record<string, unknown>
  if (Array.isArray(schema.anyOf)) {
    return `one of ${(schema.anyOf as { const: string }[]).map((s) => s.const).join(', ')}`
  }
  if (schema.type === 'integer') {
    const bounds = [
      schema.minimum !== undefined ? `>= ${schema.minimum}` : '',
      schema.maximum !== undefined ? `<= ${schema.maximum}` : '',
    ].filter(Boolean)
    return `an integer${bounds.length ? ` ${bounds.join(' and ')}` : ''}`
  }
  if (schema.type === 'boolean') return 'true or false'
  if (schema.pattern) return `a string matching ${schema.pattern}`
  return 'a non-empty string'
}

/** Reads the environment into a typed Config; every bad variable is named in one ConfigError. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const properties = ConfigSchema.properties as Record<string, TSchema & SchemaProperty>
  const raw: Record<string, unknown> = {}
  const problems: string[] = []
  for (const [name, property] of Object.entries(properties)) {
    const text = env[name]
    if (text === undefined || text === '') continue
    const value =
      property.type === 'integer' && /^-?\d+$/.test(text)
        ? Number(text)
        : property.type === 'boolean' && (text === 'true' || text === 'false')
          ? text === 'true'
          : text
    if (!Value.Check(property, value)) {
      problems.push(`${name}=${JSON.stringify(text)}: expected ${describeExpectation(property)}`)
      continue
    }
    raw[name] = value
  }
  for (const group of SETTINGS_SET_TOGETHER) {
    const missing = group.filter((name) => !env[name])
    if (missing.length > 0 && missing.length < group.length) {
      problems.push(`${missing.join(', ')}: must be set together with ${group.join(', ')}`)
    }
  }
  const port = raw.PORT ?? (ConfigSchema.properties.PORT as { default?: unknown }).default
  if (raw.METRICS_PORT !== undefined && raw.METRICS_PORT === port) {
    problems.push('METRICS_PORT: must differ from PORT')
  }
  if (raw.BALANCE_CACHE === 'redis' && !raw.REDIS_URL) {
    problems.push('BALANCE_CACHE=redis: needs REDIS_URL')
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return Value.Default(ConfigSchema, raw) as Config
}

/**
 * The drain of SHUTDOWN_DRAIN_SECONDS, in milliseconds. 5 s by default on PostgreSQL: enough for a
 * load balancer probing /health/ready every 1 to 2 s (or told of the stop by its orchestrator) to
 * route elsewhere; set it to the probe interval times the failures it needs. The embedded shape is
 * one process that nothing can route around, so waiting there would only delay a Ctrl-C.
 */
export function shutdownDrainMsOf(config: Pick<Config, 'SHUTDOWN_DRAIN_SECONDS' | 'DATABASE_URL'>): number {
  const seconds = config.SHUTDOWN_DRAIN_SECONDS ?? (config.DATABASE_URL ? 5 : 0)
  return seconds * 1000
}

/** Fastify's trustProxy from TRUST_PROXY: unset trusts no proxy, so a client cannot pick its own IP. */
export function trustProxyOf(
  config: Pick<Config, 'TRUST_PROXY'>,
): boolean | string | ((address: string, hop: number) => boolean) {
  const setting = config.TRUST_PROXY?.trim()
  if (!setting || setting === 'false') return false
  if (setting === 'true') return true
  if (!/^\d+$/.test(setting)) return setting
  const hops = Number(setting)
  return (_address, hop) => hop < hops
}
