import { Redis } from 'ioredis'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Authenticator } from './auth/access.js'
import { AuthService } from './auth/auth.service.js'
import { bearerAuthenticator } from './auth/authenticator.js'
import { DatabaseDenylist, RedisDenylist } from './auth/denylist.js'
import type { Config } from './config.js'
import { CurrenciesService } from './currencies/currencies.service.js'
import { connectDatabase, type DatabaseHandles } from './db/database.js'
import { FxService } from './fx/fx.service.js'
import { CONCURRENT_BATCHES_ON_POSTGRES, IdempotencyStore } from './http/idempotency.js'
import { PostingEngine } from './ledger/posting-engine.js'
import { type CurrencyRegistry, defaultCurrencyRegistry } from './money/index.js'
import { PaymentsService } from './payments/payments.service.js'
import { WalletsService } from './wallets/wallets.service.js'

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
  /** Redis when REDIS_URL is set (keys prefixed with REDIS_KEY_PREFIX); null in the embedded shape. */
  redis: Redis | null
  authenticator: Authenticator
  auth: AuthService
  healthChecks: HealthCheck[]
  currencies: CurrencyRegistry
  /** Custom assets in the database, mirrored into `currencies`. */
  currencyService: CurrenciesService
  ledger: PostingEngine
  idempotency: IdempotencyStore
  wallets: WalletsService
  payments: PaymentsService
  fx: FxService
  close(): Promise<void>
}

export interface ContainerOverrides {
  /** An already opened database, as tests pass a fresh one. */
  database?: DatabaseHandles
}

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

  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL, { keyPrefix: config.REDIS_KEY_PREFIX, maxRetriesPerRequest: 2 })
    : null
  if (redis) {
    redis.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis connection error'))
    healthChecks.push({
      name: 'cache',
      check: async () => {
        await redis.ping()
      },
    })
  }
  const auth = new AuthService({
    db: database.db,
    config,
    logger,
    denylist: redis ? new RedisDenylist(redis) : new DatabaseDenylist(database.db),
  })

  const currencies = defaultCurrencyRegistry()
  const currencyService = new CurrenciesService(database.db, currencies, logger)
  const ledger = new PostingEngine(currencies)
  const idempotency = new IdempotencyStore(
    database.db,
    ledger,
    database.kind === 'pglite' ? 1 : CONCURRENT_BATCHES_ON_POSTGRES,
  )
  const wallets = new WalletsService(database.db, database.readDb, ledger, currencies, currencyService)
  const payments = new PaymentsService(database.readDb, ledger, currencies, wallets)
  const fx = new FxService({ db: database.db, engine: ledger, currencies: currencyService, wallets })

  return {
    config,
    logger,
    database,
    redis,
    authenticator: bearerAuthenticator(auth),
    auth,
    healthChecks,
    currencies,
    currencyService,
    ledger,
    idempotency,
    wallets,
    payments,
    fx,
    close: async () => {
      await redis?.quit().catch(() => redis.disconnect())
      await database.close()
    },
  }
}
