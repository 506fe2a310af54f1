import { Redis } from 'ioredis'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Authenticator } from './auth/access.js'
import { authRepository } from './auth/auth.repository.js'
import { AuthService } from './auth/auth.service.js'
import { bearerAuthenticator } from './auth/authenticator.js'
import { DatabaseDenylist, RedisDenylist } from './auth/denylist.js'
import { BatchesService } from './batches/batches.service.js'
import type { Config } from './config.js'
import { CurrenciesService } from './currencies/currencies.service.js'
import { connectDatabase, type DatabaseHandles } from './db/database.js'
import type { CommandHandler, EventBus } from './events/bus.js'
import { InProcessBus } from './events/in-process-bus.js'
import { outboxBacklog } from './events/outbox.js'
import { createRabbitMqBus } from './events/rabbitmq-bus.js'
import { OutboxRelay, outboxStats } from './events/relay.js'
import { FxService } from './fx/fx.service.js'
import type { HealthCheck } from './http/health.js'
import { moneyProblem } from './http/money.errors.js'
import { IdempotentWriter } from './ledger/group-commit.js'
import { PostingEngine } from './ledger/posting-engine.js'
import { WalletChanges } from './ledger/wallet-changes.js'
import { type CurrencyRegistry, defaultCurrencyRegistry } from './money/index.js'
import { createCommandHandler } from './operations/commands.js'
import { latestFailedOperations, unsettledOperationCounts } from './operations/operations.repository.js'
import { OperationsService } from './operations/operations.service.js'
import { OverviewService } from './overview/overview.service.js'
import { PaymentsService } from './payments/payments.service.js'
import { EarningRules } from './points/earning-rules.js'
import { PointsService } from './points/points.service.js'
import { statementJobCounts } from './statements/statements.repository.js'
import { StatementsService } from './statements/statements.service.js'
import { type BalanceCache, cachedFromCommitted, openBalanceCache } from './wallets/balance-cache.js'
import { HistoryCursors } from './wallets/history-cursor.js'
import { WalletsService } from './wallets/wallets.service.js'
import { checkWebhookUrl } from './webhooks/destination-policy.js'
import { EventPartiesResolver } from './webhooks/event-parties.js'
import { createWebhookSender } from './webhooks/sender.js'
import type { WebhookSender } from './webhooks/sender-types.js'
import { newWebhookSecret } from './webhooks/signing.js'
import { latestFailedDeliveries, walletOwner, webhookBacklogCounts } from './webhooks/webhooks.repository.js'
import { WebhooksService } from './webhooks/webhooks.service.js'
import { listJobLeases } from './worker/job-leases.js'

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
  /** Every currency a Money can be in (ISO 4217, PTS, custom), read synchronously by the money code. */
  currencyRegistry: CurrencyRegistry
  /**
   * The custom currencies stored in the database (`src/currencies/`, the /api/v1/currencies
   * module), which defines them into `currencyRegistry`.
   */
  customCurrencies: CurrenciesService
  ledger: PostingEngine
  /** Every committed change of a wallet row, after its commit (the balance cache is written from it). */
  walletChanges: WalletChanges
  /** GET /wallets/{id} and its balance read it first (BALANCE_CACHE); null when off. */
  balanceCache: BalanceCache | null
  /** The write path's entry point: group commit and idempotency keys (src/ledger/group-commit.ts). */
  idempotency: IdempotentWriter
  wallets: WalletsService
  payments: PaymentsService
  /** Loyalty point accounts (src/points/): earn, spend, adjust, reverse, expiry. */
  points: PointsService
  /** The earning rules of purchases (PUT /api/v1/points/rules). */
  earningRules: EarningRules
  fx: FxService
  /**
   * Events out and commands in: RabbitMQ when AMQP_URL is set, else in-process. Nothing but this
   * file knows which one it is.
   */
  bus: EventBus
  /** Publishes the outbox to `bus` (run by the worker's `relay-outbox` job). */
  relay: OutboxRelay
  /** The asynchronous operations API (POST /api/v1/operations), applied through the commands. */
  operations: OperationsService
  /** Applies deposit/withdrawal/transfer commands; the worker consumes `coffer.commands` with it. */
  commandHandler: CommandHandler
  /** Webhook subscriptions, their delivery log and replays (the deliveries are the worker's). */
  webhooks: WebhooksService
  /** Makes one signed webhook request; the dispatcher (src/worker/webhooks.ts) uses it. */
  webhookSender: WebhookSender
  /** Which wallets and users an event concerns, for the webhook filters (caches owners). */
  webhookParties: EventPartiesResolver
  /** Statements of wallets and point accounts; long ones are jobs (src/worker/statements.ts). */
  statements: StatementsService
  /** POST /api/v1/batches: many movements in one request, independent, atomic or dry run. */
  batches: BatchesService
  /** GET /api/v1/operations/overview: the operators' figures (outbox, dead letters, worker jobs). */
  overview: OverviewService
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
      preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
      pipelineConnections: config.DATABASE_PIPELINE_CONNECTIONS,
      connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
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

  // With Redis down every command fails within REDIS_COMMAND_TIMEOUT_MS instead of waiting in
  // ioredis' offline queue for the reconnection, so callers fall back (rate limits open, the
  // denylist to the database) at once. The queue itself stays, for commands sent while the
  // first connection is still being made.
  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL, {
        keyPrefix: config.REDIS_KEY_PREFIX,
        maxRetriesPerRequest: 1,
        connectTimeout: config.REDIS_COMMAND_TIMEOUT_MS * 2,
        commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
      })
    : null
  if (redis) {
    // One line per outage, not one per reconnection attempt (every 2 s at most while it lasts).
    let redisDown = false
    redis.on('error', (error: Error) => {
      if (redisDown) return
      redisDown = true
      logger.warn({ err: error.message }, 'redis unavailable; rate limits open, denylist from the database')
    })
    redis.on('ready', () => {
      if (redisDown) logger.info('redis available again')
      redisDown = false
    })
    healthChecks.push({
      name: 'cache',
      required: false,
      check: async () => {
        await redis.ping()
      },
    })
  }
  // The broker down is not fatal: the API keeps taking writes (the outbox holds their events),
  // readiness names the broker, and the relay catches up once it is back.
  const commandRetries = {
    maxAttempts: config.COMMAND_MAX_ATTEMPTS,
    retryDelaysMs: config.COMMAND_RETRY_DELAYS_MS.split(',').map(Number),
  }
  const bus: EventBus = config.AMQP_URL
    ? await createRabbitMqBus({ url: config.AMQP_URL, logger, ...commandRetries })
    : new InProcessBus({ logger, ...commandRetries })
  if (config.AMQP_URL) healthChecks.push({ name: 'broker', check: () => bus.check() })
  const relay = new OutboxRelay({
    db: database.db,
    bus,
    logger,
    batchSize: config.OUTBOX_RELAY_BATCH_SIZE,
    // PGlite: one process and one connection (see RelayLeadership).
    leadership: database.kind === 'pglite' ? 'this-process' : 'advisory-lock',
  })
  healthChecks.push({
    name: 'outbox',
    // Its figures are for operators; the database check already says whether it can be read.
    required: false,
    check: async () => {
      await outboxStats(database.db)
    },
    details: async () => ({ ...(await outboxStats(database.db)) }),
  })

  const auth = new AuthService({
    db: database.db,
    config,
    logger,
    denylist: redis ? new RedisDenylist(redis, database.db, logger) : new DatabaseDenylist(database.db),
  })

  const currencyRegistry = defaultCurrencyRegistry()
  const customCurrencies = new CurrenciesService(database.db, currencyRegistry, logger)
  const walletChanges = new WalletChanges(logger)
  const balanceCache = await openBalanceCache(config, database.kind, logger)
  // Written through after each commit, before the writer answers: read-your-writes (docs/events.md).
  if (balanceCache) walletChanges.onCommitted((changed) => balanceCache.put(changed.map(cachedFromCommitted)))
  const ledger = new PostingEngine(currencyRegistry, walletChanges)
  const idempotency = new IdempotentWriter(
    database.db,
    ledger,
    database.kind === 'pglite' ? 1 : config.GROUP_COMMIT_BATCHES,
    walletChanges,
  )
  // The embedded database is the newcomer's demo, where a user funds their own wallet; on
  // PostgreSQL money enters and leaves through admins and services unless an operator says otherwise.
  const selfDeposits = config.SELF_DEPOSITS ?? database.kind === 'pglite'
  if (selfDeposits && database.kind !== 'pglite') {
    logger.warn('SELF_DEPOSITS is on: users may deposit into and withdraw from their own wallets')
  }
  const earningRules = new EarningRules(database.db, currencyRegistry)
  const points = new PointsService({
    db: database.db,
    engine: ledger,
    cursors: new HistoryCursors(database.db),
    expiringSoonDays: config.POINTS_EXPIRING_SOON_DAYS,
    userExists: async (db, userId) => (await authRepository.findUserById(db, userId)) !== undefined,
    earningRules,
  })
  const wallets = new WalletsService(
    database.db,
    database.readDb,
    ledger,
    currencyRegistry,
    customCurrencies,
    new HistoryCursors(database.db),
    selfDeposits,
    balanceCache,
    (currency) => points.isPointAsset(currency),
    (userId) => auth.userExists(userId),
  )
  const payments = new PaymentsService(database.readDb, ledger, currencyRegistry, wallets, {
    mayCare: (currency) => earningRules.hasRulesFor(currency),
    purchased: (trx, purchase) => points.earnForPurchase(trx, purchase),
    refunded: (trx, refund) => points.clawBackForRefund(trx, refund),
  })
  const fx = new FxService({ db: database.db, engine: ledger, currencies: customCurrencies, wallets })
  // The money module's errors (an amount with too many decimals) are refusals of the command,
  // recorded like the business rules' ones, as the HTTP edge renders them.
  const operations = new OperationsService({
    db: database.db,
    wallets,
    idempotency,
    bus,
    logger,
    refusalOf: moneyProblem,
  })
  const commandHandler = createCommandHandler({
    db: database.db,
    wallets,
    points,
    idempotency,
    bus,
    logger,
    senders: config.COMMAND_SENDERS?.split(',') ?? [],
    refusalOf: moneyProblem,
  })
  const webhookPolicy = { allowLocalhost: config.WEBHOOK_ALLOW_LOCALHOST }
  const webhookSender = createWebhookSender({ policy: webhookPolicy, timeoutMs: config.WEBHOOK_TIMEOUT_MS })
  const webhookParties = new EventPartiesResolver((walletId) => walletOwner(database.db, walletId))
  const webhooks = new WebhooksService({
    db: database.db,
    logger,
    checkUrl: (url) => checkWebhookUrl(url, webhookPolicy),
    newSecret: newWebhookSecret,
    secretGraceHours: config.WEBHOOK_SECRET_GRACE_HOURS,
    parties: webhookParties,
  })
  const batches = new BatchesService({ wallets, payments, idempotency })
  const statements = new StatementsService({
    db: database.db,
    wallets,
    points,
    holders: auth,
    currencies: currencyRegistry,
    logger,
    limits: {
      immediateMaxDays: config.STATEMENT_IMMEDIATE_MAX_DAYS,
      immediateMaxLines: config.STATEMENT_IMMEDIATE_MAX_LINES,
      maxRangeDays: config.STATEMENT_MAX_RANGE_DAYS,
      maxConcurrentJobs: config.STATEMENT_MAX_CONCURRENT_JOBS,
      retentionHours: config.STATEMENT_RETENTION_HOURS,
    },
  })

  // Each figure is read by the module that owns its table, on the primary, where the relay, the
  // worker and the dispatcher write: a replica's lag would show finished work as still waiting.
  const overview = new OverviewService({
    outboxBacklog: () => outboxBacklog(database.db),
    unsettledOperationCounts: () => unsettledOperationCounts(database.db),
    latestFailedOperations: (limit) => latestFailedOperations(database.db, limit),
    webhookBacklogCounts: () => webhookBacklogCounts(database.db),
    latestFailedDeliveries: (limit) => latestFailedDeliveries(database.db, limit),
    jobLeases: () => listJobLeases(database.db),
    statementJobCounts: () => statementJobCounts(database.db),
  })

  return {
    config,
    logger,
    database,
    redis,
    authenticator: bearerAuthenticator(auth),
    auth,
    healthChecks,
    currencyRegistry,
    customCurrencies,
    ledger,
    walletChanges,
    balanceCache,
    idempotency,
    wallets,
    payments,
    points,
    earningRules,
    fx,
    bus,
    relay,
    operations,
    commandHandler,
    webhooks,
    webhookSender,
    webhookParties,
    statements,
    batches,
    overview,
    close: async () => {
      await bus.close()
      await webhookSender.close()
      await balanceCache?.close()
      await redis?.quit().catch(() => redis.disconnect())
      await database.close()
    },
  }
}
