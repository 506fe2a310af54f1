import { type Static, type TSchema, Type } from 'typebox'
import { Value } from 'typebox/value'

const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
)

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
  DATA_DIR: Type.String({
    minLength: 1,
    default: './.coffer',
    description: 'Directory for the embedded database (PGlite) when DATABASE_URL is not set.',
  }),
  DATABASE_URL: Type.Optional({
    ...PostgresUrl,
    description: 'PostgreSQL connection URL. Unset: the embedded PGlite database in DATA_DIR.',
  }),
  DATABASE_READ_URL: Type.Optional({
    ...PostgresUrl,
    description: 'Read replica for history and statement queries. Unset: reads go to DATABASE_URL.',
  }),
  DATABASE_POOL_SIZE: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 20,
    description: 'Maximum connections in the PostgreSQL pool.',
  }),
  REDIS_URL: Type.Optional(
    Type.String({
      pattern: '^rediss?://',
      description: 'Redis URL. Unset: in-memory cache and rate limits.',
    }),
  ),
  AMQP_URL: Type.Optional(
    Type.String({ pattern: '^amqps?://', description: 'RabbitMQ URL. Unset: the in-process event bus.' }),
  ),
  LOG_LEVEL: { ...LogLevel, default: 'info', description: 'pino log level.' },
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
})

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
    const value = property.type === 'integer' && /^-?\d+$/.test(text) ? Number(text) : text
    if (!Value.Check(property, value)) {
      problems.push(`${name}=${JSON.stringify(text)}: expected ${describeExpectation(property)}`)
      continue
    }
    raw[name] = value
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return Value.Default(ConfigSchema, raw) as Config
}
