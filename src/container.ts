import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Authenticator } from './auth/access.js'
import type { Config } from './config.js'
import { connectDatabase, type DatabaseHandles } from './db/database.js'

export interface HealthCheck {
  name: string
  check(): Promise<void>
}

/**
 * Everything a process shares: configuration, logger, storage, and the services built on them.
 * This is the one place that chooses between the embedded shape (PGlite, in-process bus,
 * memory cache) and the services shape (PostgreSQL, RabbitMQ, Redis).
 */
export interface Container {
  config: Config
  logger: Logger
  database: DatabaseHandles
  authenticator: Authenticator
  healthChecks: HealthCheck[]
  close(): Promise<void>
}

export interface ContainerOverrides {
  /** An already opened database, as tests pass a fresh one. */
  database?: DatabaseHandles
}

const noCredentialsYet: Authenticator = { authenticate: async () => null }

export async function createContainer(
  config: Config,
  logger: Logger,
  overrides: ContainerOverrides = {},
): Promise<Container> {
  const database =
    overrides.database ??
    (await connectDatabase({
      databaseUrl: config.DATABASE_URL,
      databaseReadUrl: config.DATABASE_READ_URL,
      dataDir: config.DATA_DIR,
      poolSize: config.DATABASE_POOL_SIZE,
      retries: config.DB_CONNECT_RETRIES,
      retryDelayMs: config.DB_CONNECT_RETRY_DELAY_MS,
      logger,
    }))

  const healthChecks: HealthCheck[] = [
    {
      name: 'database',
      check: async () => {
        await sql`select 1`.execute(database.db)
      },
    },
  ]
  if (database.readDb !== database.db) {
    healthChecks.push({
      name: 'database-replica',
      check: async () => {
        await sql`select 1`.execute(database.readDb)
      },
    })
  }

  return {
    config,
    logger,
    database,
    authenticator: noCredentialsYet,
    healthChecks,
    close: async () => {
      await database.close()
    },
  }
}
